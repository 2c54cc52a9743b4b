"""Errors as one typed tree that maps 1:1 to ``metav1.Status`` reasons.

::

    StatusError (any failure with an HTTP code, a reason and a message)
     ├── BadRequest            400 BadRequest
     ├── Unauthorized          401 Unauthorized
     ├── Forbidden             403 Forbidden
     ├── NotFound              404 NotFound
     ├── MethodNotAllowed      405 MethodNotAllowed
     ├── NotAcceptable         406 NotAcceptable
     ├── AlreadyExists         409 AlreadyExists
     ├── Conflict              409 Conflict
     ├── Gone                  410 Gone  (also "Expired" for continue tokens)
     ├── RequestEntityTooLarge 413 RequestEntityTooLarge
     ├── UnsupportedMediaType  415 UnsupportedMediaType
     ├── Invalid               422 Invalid (with one cause per field)
     ├── TooManyRequests       429 TooManyRequests
     ├── InternalError         500 InternalError
     ├── ServiceUnavailable    503 ServiceUnavailable
     └── Timeout               504 Timeout

``StatusError.status()`` renders the wire object; ``from_status`` turns a
received Status back into the matching class (used by clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason a request failed, usually tied to a field path."""

    type: str
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        """The ``StatusCause`` wire form."""
        out = {"reason": self.type, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


# Cause types upstream uses (k8s.io/apimachinery metav1.CauseType and field.ErrorType).
CAUSE_NOT_FOUND = "FieldValueNotFound"
CAUSE_REQUIRED = "FieldValueRequired"
CAUSE_DUPLICATE = "FieldValueDuplicate"
CAUSE_INVALID = "FieldValueInvalid"
CAUSE_NOT_SUPPORTED = "FieldValueNotSupported"
CAUSE_FORBIDDEN = "FieldValueForbidden"
CAUSE_TOO_LONG = "FieldValueTooLong"
CAUSE_TYPE_INVALID = "FieldValueTypeInvalid"
CAUSE_UNKNOWN_FIELD = "FieldValueUnknown"


def too_long(field: str, limit: int) -> Cause:
    """``field.TooLong``: the value is longer than ``limit`` bytes (never shown), worded as since v1.32."""
    return Cause(CAUSE_TOO_LONG, f"Too long: may not be more than {limit} byte{'' if limit == 1 else 's'}", field)


#: The cause the NamespaceLifecycle admission plugin gives when it refuses new content in a namespace being
#: deleted (core/v1 ``NamespaceTerminatingCause``).
CAUSE_NAMESPACE_TERMINATING = "NamespaceTerminating"


class StatusError(Exception):
    """A failure that the API reports as a ``metav1.Status``."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"
    #: Whether the Status always carries ``details``, empty or not (upstream's constructors of these reasons
    #: always set them; kubectl dereferences them, e.g. ``kubectl debug`` on a 404).
    always_details: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        group: str = "",
        kind: str = "",
        name: str = "",
        causes: list[Cause] | None = None,
        retry_after_seconds: int | None = None,
        continue_token: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.group = group
        self.kind = kind
        self.name = name
        self.causes = causes or []
        self.retry_after_seconds = retry_after_seconds
        #: ``metadata.continue`` of the Status (a 410 for an expired continue token offers a fresh one).
        self.continue_token = continue_token

    def status(self) -> dict[str, Any]:
        """The ``metav1.Status`` object for this error."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {"continue": self.continue_token} if self.continue_token else {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del out["reason"]  # StatusReasonUnknown: omitted on the wire
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        if details or self.always_details:
            out["details"] = details
        return out


class BadRequest(StatusError):
    """The request is malformed (bad JSON, wrong kind for the URL, bad parameter)."""

    code = 400
    reason = "BadRequest"


class Unauthorized(StatusError):
    """No valid credentials."""

    code = 401
    reason = "Unauthorized"


class Forbidden(StatusError):
    """Authenticated, but not allowed (or a namespace is terminating, …)."""

    code = 403
    reason = "Forbidden"
    always_details = True


class NotFound(StatusError):
    """The object, resource or path does not exist."""

    code = 404
    reason = "NotFound"
    always_details = True


class MethodNotAllowed(StatusError):
    """The resource does not support this verb."""

    code = 405
    reason = "MethodNotAllowed"
    always_details = True  # go-restful's 405 (NewGenericServerResponse) and NewMethodNotSupported both set them


class NotAcceptable(StatusError):
    """None of the requested media types can be produced."""

    code = 406
    reason = "NotAcceptable"


class AlreadyExists(StatusError):
    """Create found an object with that name."""

    code = 409
    reason = "AlreadyExists"


class Conflict(StatusError):
    """Optimistic concurrency failed (stale resourceVersion, failed precondition)."""

    code = 409
    reason = "Conflict"


class Gone(StatusError):
    """The requested resourceVersion is too old (compacted)."""

    code = 410
    reason = "Expired"


class RequestEntityTooLarge(StatusError):
    """The body exceeds the server's limit."""

    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(StatusError):
    """The body's Content-Type is not one the verb accepts."""

    code = 415
    reason = "UnsupportedMediaType"


class Invalid(StatusError):
    """The object fails validation; ``causes`` lists every field at fault."""

    code = 422
    reason = "Invalid"
    always_details = True  # NewInvalid and a 422 NewGenericServerResponse (a patch that cannot apply) both set them


class TooManyRequests(StatusError):
    """The server is overloaded; retry later."""

    code = 429
    reason = "TooManyRequests"


class InternalError(StatusError):
    """A server bug; never used for bad client input."""

    code = 500
    reason = "InternalError"


class Unknown(StatusError):
    """A failure upstream reports with no reason: an error that is no API status, which its handlers answer as a
    bare 500 with the error's text (a kubelet that cannot be dialled for a pod's logs or exec, say)."""

    code = 500
    reason = ""


class ServiceUnavailable(StatusError):
    """The server is not ready (starting, or shutting down)."""

    code = 503
    reason = "ServiceUnavailable"


class Timeout(StatusError):
    """The server could not finish in time."""

    code = 504
    reason = "Timeout"


def namespace_terminating(exc: BaseException) -> bool:
    """Whether ``exc`` refused to create something because its namespace is being deleted (upstream's
    ``HasStatusCause(err, NamespaceTerminatingCause)``): a race every controller meets and none can win."""
    return isinstance(exc, StatusError) and any(c.type == CAUSE_NAMESPACE_TERMINATING for c in exc.causes)


def gone(message: str) -> Gone:
    """A 410 with reason ``Expired``, the way upstream reports compacted versions."""
    return Gone(message)


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> Invalid:
    """A 422 worded as upstream: ``Kind "name" is invalid: field: message, …`` (a repeated part once in the
    message, as upstream's ``ToAggregate`` has it; every cause stays in the details)."""
    parts = list(dict.fromkeys(f"{c.field}: {c.message}" if c.field else c.message for c in causes))
    noun = f"{kind}.{group}" if group else kind
    message = f'{noun} "{name}" is invalid: ' + ", ".join(parts) if parts else f'{noun} "{name}" is invalid'
    if len(parts) > 1:
        message = f'{noun} "{name}" is invalid: [' + ", ".join(parts) + "]"
    return Invalid(message, group=group, kind=kind, name=name, causes=causes)


_BY_REASON: dict[str, type[StatusError]] = {
    cls.reason: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        AlreadyExists,
        Conflict,
        RequestEntityTooLarge,
        UnsupportedMediaType,
        Invalid,
        TooManyRequests,
        InternalError,
        ServiceUnavailable,
        Timeout,
    )
}
_BY_REASON["Gone"] = Gone
_BY_REASON["Expired"] = Gone
_BY_CODE: dict[int, type[StatusError]] = {cls.code: cls for cls in reversed(list(_BY_REASON.values()))}
_BY_CODE[409] = Conflict
_BY_CODE[410] = Gone


def from_status(status: dict[str, Any], http_code: int | None = None) -> StatusError:
    """Rebuild the typed error from a received ``metav1.Status``."""
    reason = str(status.get("reason") or "")
    code = int(status.get("code") or http_code or 500)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or StatusError
    details = status.get("details") or {}
    causes = [
        Cause(type=str(c.get("reason", "")), message=str(c.get("message", "")), field=str(c.get("field", "")))
        for c in details.get("causes") or []
    ]
    err = cls(
        str(status.get("message") or reason or f"HTTP {code}"),
        group=str(details.get("group", "")),
        kind=str(details.get("kind", "")),
        name=str(details.get("name", "")),
        causes=causes,
        retry_after_seconds=details.get("retryAfterSeconds"),
    )
    return err
