"""Metadata syntax rules, worded exactly as upstream's apimachinery validation.

Every validator returns a list of :class:`~pinnace.api.errors.Cause` (empty when
the value is fine) so callers can collect all faults of an object and raise one
``errors.invalid(kind, name, causes)``. A cause's ``message`` is the upstream
``field.Error.ErrorBody()`` (``Invalid value: "Foo": a lowercase RFC 1123 …``)
and its ``field`` the upstream field path, so a 422 renders byte-for-byte like
kube-apiserver's and kubectl prints the same text.

The ``is_*`` functions return the bare upstream messages (``IsDNS1123Label`` …)
for callers that word their own cause; ``validate_*`` functions wrap them into
causes at a field path. ``generate_name`` implements upstream's
``SimpleNameGenerator``.
"""

from __future__ import annotations

import functools
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pinnace.api import errors
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_value

__all__ = [
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "NAME_RULES",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "generate_name",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_path_segment_name",
    "is_qualified_name",
    "is_valid_label_value",
    "validate_annotations",
    "validate_finalizers",
    "validate_labels",
    "validate_name",
    "validate_object_meta",
    "validate_owner_references",
]

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
#: Upstream's ``TotalAnnotationSizeLimitB``: keys plus values, in bytes.
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)

#: Upstream's ``k8s.io/apimachinery/pkg/util/rand`` alphabet (no vowels, no confusables).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_RANDOM_LENGTH = 5
_MAX_GENERATED_BASE = DNS1123_LABEL_MAX_LENGTH - _RANDOM_LENGTH

_FINALIZER_ORPHAN = "orphan"
_FINALIZER_FOREGROUND = "foregroundDeletion"
#: The finalizers Kubernetes itself defines: the only ones that need no domain and path.
_STANDARD_FINALIZERS = frozenset({_FINALIZER_ORPHAN, _FINALIZER_FOREGROUND, "kubernetes"})


# --- message helpers (upstream util/validation wording) -----------------------------------------


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Upstream ``RegexError``; note its double space before each ``or``."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            out += " or "
        out += f"'{example}', "
    return out + f"regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8")) if not value.isascii() else len(value)


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(errors.CAUSE_INVALID, f"Invalid value: {go_value(value)}: {detail}", field)


def _required(field: str, detail: str = "") -> Cause:
    return Cause(errors.CAUSE_REQUIRED, f"Required value: {detail}" if detail else "Required value", field)


def _forbidden(field: str, detail: str) -> Cause:
    return Cause(errors.CAUSE_FORBIDDEN, f"Forbidden: {detail}", field)


# --- the upstream Is* checks ---------------------------------------------------------------------


def is_dns1123_label(value: str) -> list[str]:
    """Messages for a value that is not a DNS-1123 label (``IsDNS1123Label``)."""
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """Messages for a value that is not a DNS-1035 label (``IsDNS1035Label``: starts with a letter)."""
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """Messages for a value that is not a DNS-1123 subdomain (``IsDNS1123Subdomain``)."""
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_path_segment_name(value: str, *, prefix: bool = False) -> list[str]:
    """Messages for a name that cannot be one URL path segment (``ValidatePathSegmentName``)."""
    if not prefix:
        for illegal in (".", ".."):
            if value == illegal:
                return [f"may not be '{illegal}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


def is_qualified_name(value: str) -> list[str]:
    """Messages for a bad label/annotation key or finalizer (``IsQualifiedName``)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + _max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """Messages for a bad label value (``IsValidLabelValue``)."""
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(_max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _mask_trailing_dash(name: str) -> str:
    """A generateName prefix may end in '-': check it as upstream does (its last two chars → 'a')."""
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def _name_is_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def _name_is_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def _name_is_path(name: str, prefix: bool) -> list[str]:
    return is_path_segment_name(name, prefix=prefix)


#: name_rule → the upstream ``ValidateNameFunc`` (value, is_prefix) → messages.
NAME_RULES: dict[str, Callable[[str, bool], list[str]]] = {
    "subdomain": _name_is_subdomain,
    "label": _name_is_label,
    "path": _name_is_path,
}


# --- field validators returning causes -----------------------------------------------------------


def validate_name(name: str, *, name_rule: str = "subdomain", field: str = "metadata.name") -> list[Cause]:
    """Causes for an object name that breaks its kind's rule ("subdomain", "label" or "path")."""
    rule = NAME_RULES[name_rule]
    return [_invalid(field, name, msg) for msg in rule(name, False)]


@functools.lru_cache(maxsize=4096)
def _key_problems(key: str) -> tuple[str, ...]:
    """``is_qualified_name``, remembered: the same label keys come back on object after object."""
    return tuple(is_qualified_name(key))


@functools.lru_cache(maxsize=4096)
def _label_value_problems(value: str) -> tuple[str, ...]:
    return tuple(is_valid_label_value(value))


@functools.lru_cache(maxsize=1024)
def _namespace_problems(namespace: str) -> tuple[str, ...]:
    return tuple(_name_is_label(namespace, False))


def is_valid_label(key: str, value: str) -> bool:
    """Whether ``key`` is a qualified name and ``value`` a label value (both remembered per string)."""
    return not _key_problems(key) and not _label_value_problems(value)


def validate_labels(labels: Mapping[str, Any], field: str = "metadata.labels") -> list[Cause]:
    """Causes for bad label keys and values (``ValidateLabels``)."""
    out: list[Cause] = []
    for key, value in labels.items():
        problems = _key_problems(key)
        if problems:  # (tested first: building a generator per key costs more than the check)
            out.extend(_invalid(field, key, msg) for msg in problems)
        if not isinstance(value, str):
            out.append(_invalid(field, value, "label values must be strings"))
            continue
        problems = _label_value_problems(value)
        if problems:
            out.extend(_invalid(field, value, msg) for msg in problems)
    return out


def validate_annotations(annotations: Mapping[str, Any], field: str = "metadata.annotations") -> list[Cause]:
    """Causes for bad annotation keys (case-insensitive qualified names) and total size > 256 KiB."""
    out: list[Cause] = []
    total = 0
    for key, value in annotations.items():
        problems = _key_problems(key.lower())
        if problems:
            out.extend(_invalid(field, key, msg) for msg in problems)
        total += _utf8_len(key) + (_utf8_len(value) if isinstance(value, str) else 0)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(errors.too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT))
    return out


def validate_finalizers(finalizers: Sequence[Any], field: str = "metadata.finalizers") -> list[Cause]:
    """Causes for finalizer names that are not qualified names, or orphan + foreground together."""
    out: list[Cause] = []
    for finalizer in finalizers:
        if not isinstance(finalizer, str):
            out.append(_invalid(field, finalizer, "finalizers must be strings"))
            continue
        out.extend(_invalid(field, finalizer, msg) for msg in is_qualified_name(finalizer))
    if _FINALIZER_ORPHAN in finalizers and _FINALIZER_FOREGROUND in finalizers:
        out.append(
            _invalid(
                field,
                list(finalizers),
                f"finalizer {_FINALIZER_ORPHAN} and {_FINALIZER_FOREGROUND} cannot be both set",
            )
        )
    return out


def finalizer_warnings(meta: Any, old_meta: Any = None) -> list[str]:
    """The warning a custom resource's create (or update: for the finalizers it adds) gets for a finalizer
    without a domain and path, which another controller might also use (upstream's apiextensions strategy)."""

    def names_in(m: Any) -> set[str]:
        found = m.get("finalizers") if isinstance(m, dict) else None
        return {f for f in found if isinstance(f, str)} if isinstance(found, list) else set()

    added = names_in(meta) - names_in(old_meta)
    return [
        f'metadata.finalizers: "{name}": prefer a domain-qualified finalizer name to avoid accidental conflicts '
        "with other finalizer writers"
        for name in sorted(added)
        if "/" not in name and name not in _STANDARD_FINALIZERS
    ]


def _split_api_version(api_version: str) -> tuple[str, str] | None:
    """(group, version) as upstream's ``ParseGroupVersion``; None when unparsable."""
    if not api_version:
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def validate_owner_references(refs: Sequence[Any], field: str = "metadata.ownerReferences") -> list[Cause]:
    """Causes for owner references missing apiVersion/kind/name/uid, or with two controllers."""
    out: list[Cause] = []
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, Mapping):
            out.append(_invalid(field, ref, "owner references must be objects"))
            continue
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        gv = _split_api_version(api_version)
        if gv is None or not gv[1]:
            out.append(_invalid(f"{field}.apiVersion", api_version, "version must not be empty"))
        if not kind:
            out.append(_invalid(f"{field}.kind", kind, "must not be empty"))
        if not ref.get("name"):
            out.append(_invalid(f"{field}.name", str(ref.get("name") or ""), "must not be empty"))
        if not ref.get("uid"):
            out.append(_invalid(f"{field}.uid", str(ref.get("uid") or ""), "must not be empty"))
        if gv == ("", "v1") and kind == "Event":
            out.append(_invalid(field, dict(ref), "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                out.append(
                    _invalid(
                        field,
                        [dict(r) if isinstance(r, Mapping) else r for r in refs],
                        'Only one reference can have Controller set to true. Found "true" in references '
                        f"for {first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return out


def validate_object_meta(meta: Mapping[str, Any], *, namespaced: bool, name_rule: str = "subdomain") -> list[Cause]:
    """All syntax causes of an object's metadata, in upstream's ``ValidateObjectMeta`` order.

    ``name_rule`` is the kind's name rule: "subdomain" (most kinds), "label"
    (Namespace, Service, …) or "path" (kinds whose names only need to be a URL
    path segment). Call after ``generateName`` has been turned into a name.
    """
    rule = NAME_RULES[name_rule]
    out: list[Cause] = []
    generate = meta.get("generateName")
    if isinstance(generate, str) and generate:
        out.extend(_invalid("metadata.generateName", generate, msg) for msg in rule(generate, True))
    name = meta.get("name")
    if not name:
        out.append(_required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        out.append(_invalid("metadata.name", name, "name must be a string"))
    else:
        problems = rule(name, False)
        if problems:
            out.extend(_invalid("metadata.name", name, msg) for msg in problems)
    namespace = meta.get("namespace")
    if namespaced:
        if not namespace:
            out.append(_required("metadata.namespace"))
        elif isinstance(namespace, str):
            ns_problems = _namespace_problems(namespace)
            if ns_problems:
                out.extend(_invalid("metadata.namespace", namespace, m) for m in ns_problems)
        else:
            out.append(_invalid("metadata.namespace", namespace, "namespace must be a string"))
    elif namespace:
        out.append(_forbidden("metadata.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation < 0:
        out.append(_invalid("metadata.generation", generation, "must be greater than or equal to 0"))
    labels = meta.get("labels")
    if type(labels) is dict or isinstance(labels, Mapping):  # (the exact type first: no ABC check per write)
        out.extend(validate_labels(labels))
    annotations = meta.get("annotations")
    if type(annotations) is dict or isinstance(annotations, Mapping):
        out.extend(validate_annotations(annotations))
    owners = meta.get("ownerReferences")
    if isinstance(owners, list):
        out.extend(validate_owner_references(owners))
    finalizers = meta.get("finalizers")
    if isinstance(finalizers, list):
        out.extend(validate_finalizers(finalizers))
    return out


def generate_name(base: str, rng: random.Random | None = None) -> str:
    """``base`` plus 5 random characters, as upstream's ``SimpleNameGenerator``.

    The base is cut to 58 characters so the result is at most 63 — upstream
    truncates the same way for every kind, whatever its name rule.
    """
    pick = (rng or _RNG).choice
    return base[:_MAX_GENERATED_BASE] + "".join(pick(_NAME_ALPHABET) for _ in range(_RANDOM_LENGTH))


#: Generated names need to be unlikely to collide, not secret (upstream uses math/rand);
#: a seeded PRNG avoids a system call per character.
_RNG = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _RNG.seed(os.urandom(32)))
