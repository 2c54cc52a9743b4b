"""Content negotiation: which body formats a request sends and wants back.

Requests carry JSON, YAML or Kubernetes protobuf (kubectl's typed clients
send protobuf for create/update), and the patch media types for PATCH; responses
are JSON, YAML, a ``meta.k8s.io`` Table, PartialObjectMetadata, or (for
``/api`` and ``/apis``) aggregated discovery, chosen from the Accept header as
kube-apiserver does. Protobuf is not offered: clients that ask for it list JSON
as a fallback, and get 406 only if they list nothing we can produce.
"""

from __future__ import annotations

import enum
import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from pinnace.api import errors, goyaml, protobuf

JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH_YAML)

#: Largest request body accepted (upstream's default is 3 MiB).
MAX_BODY_BYTES = 3 * 1024 * 1024


class Output(enum.Enum):
    """The shape of a response body."""

    OBJECT = "object"
    TABLE = "table"
    PARTIAL = "partial"
    DISCOVERY_V2 = "discovery-v2"


@dataclass(frozen=True, slots=True)
class Wanted:
    """The chosen response form: shape, serialisation, and meta.k8s.io version."""

    output: Output = Output.OBJECT
    yaml: bool = False
    meta_version: str = "v1"
    discovery_version: str = "v2"

    @property
    def content_type(self) -> str:
        """The Content-Type header of a response in this form."""
        if self.output is Output.DISCOVERY_V2:
            return f"application/json;g=apidiscovery.k8s.io;v={self.discovery_version};as=APIGroupDiscoveryList"
        if self.output is Output.TABLE:
            return f"application/json;as=Table;v={self.meta_version};g=meta.k8s.io"
        return YAML if self.yaml else JSON


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for item in accept.split(","):
        pieces = [p.strip() for p in item.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for p in pieces[1:]:
            if "=" in p:
                k, _, v = p.partition("=")
                params[k.strip().lower()] = v.strip().strip('"')
        out.append((pieces[0].lower(), params))
    return out


@functools.lru_cache(maxsize=256)
def negotiate(accept: str | None, *, discovery: bool = False) -> Wanted:
    """Pick the response form from an Accept header, or raise 406 (the few headers clients send are cached)."""
    if not accept:
        return Wanted()
    for media, params in _media_ranges(accept):
        if media not in (JSON, YAML, "*/*", "application/*"):
            continue
        as_ = params.get("as")
        g = params.get("g")
        v = params.get("v", "v1")
        is_yaml = media == YAML
        if as_ is None:
            return Wanted(yaml=is_yaml)
        if as_ == "APIGroupDiscoveryList" and g == "apidiscovery.k8s.io" and v in ("v2", "v2beta1"):
            if discovery:
                return Wanted(Output.DISCOVERY_V2, discovery_version=v)
            continue
        if g != "meta.k8s.io" or v not in ("v1", "v1beta1") or is_yaml:
            continue
        if as_ == "Table":
            return Wanted(Output.TABLE, meta_version=v)
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return Wanted(Output.PARTIAL, meta_version=v)
    raise errors.NotAcceptable(
        f"only the following media types are accepted: {JSON}, {YAML}, application/json;as=Table;v=v1;g=meta.k8s.io"
    )


def content_type_of(header: str | None) -> str:
    """The bare media type of a Content-Type header (lower case, no parameters)."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


def decode_object(body: bytes, media: str) -> dict[str, Any]:
    """Decode a JSON or YAML request body into an object, or raise 400/415."""
    if media in ("", JSON, "*/*"):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise errors.BadRequest(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"application/json, application/yaml: {exc}"
            ) from None
    elif media in (YAML, "application/x-yaml", "text/yaml"):
        value = decode_yaml(body)
    elif media == protobuf.MEDIA_TYPE:
        value = protobuf.decode_k8s_protobuf(body)
    else:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f'{JSON}, {YAML}, {protobuf.MEDIA_TYPE}; got "{media}"'
        )
    if not isinstance(value, dict):
        raise errors.BadRequest("the body of the request must be a JSON object")
    if media != protobuf.MEDIA_TYPE:
        check_nesting(value, body if media in ("", JSON, "*/*") else None)
    return value


def decode_patch(body: bytes) -> Any:
    """A JSON patch document, or 400 as upstream answers one it cannot read."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"error decoding patch: {exc}") from None
    check_nesting(value, body)
    return value


#: The deepest nesting a request body may have. Upstream's decoder allows 10,000 levels; orjson, which writes
#: every stored object and answer here, stops at 254, and answers wrap an object a few levels deeper (a list's
#: items, a watch event, a Table row) while managedFields mirror it a few levels down: 200 leaves room for those.
MAX_NESTING_DEPTH = 200


def check_nesting(value: Any, json_body: bytes | None = None) -> None:
    """400 for a decoded body nested deeper than :data:`MAX_NESTING_DEPTH` (it could be read but never stored or
    sent back). ``json_body``: the JSON it came from, whose bracket count rules most bodies out at C speed."""
    if not isinstance(value, (dict, list)):
        return  # a scalar (YAML's null, a number): the caller says what it wanted instead
    if json_body is not None and json_body.count(b"{") + json_body.count(b"[") <= MAX_NESTING_DEPTH:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= MAX_NESTING_DEPTH:
                    raise errors.BadRequest(
                        f"the body of the request is nested too deeply: at most {MAX_NESTING_DEPTH} levels are accepted"
                    )
                stack.append((child, depth + 1))


def decode_json_or_yaml(body: bytes) -> Any:
    """A patch or apply body: JSON if it parses as JSON, else YAML (one document); 400 if neither, or too deep."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return decode_yaml(body)
    check_nesting(value, body)
    return value


def decode_yaml(body: bytes) -> Any:
    """Parse YAML (one document) into what JSON can hold, as upstream's YAML-to-JSON conversion does, or raise 400:
    map keys become strings (``1`` → ``"1"``, ``true`` → ``"true"``), ``!!binary`` its decoded text."""
    try:
        value = yaml.load(body, Loader=goyaml.LOADER)
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"error converting YAML to JSON: {exc}") from None
    check_nesting(value)
    return _json_compatible(value)


def _json_compatible(value: Any) -> Any:
    if isinstance(value, dict):
        if all(type(k) is str for k in value):
            return {k: _json_compatible(v) for k, v in value.items()}
        return {_json_key(k, v): _json_compatible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_compatible(v) for v in value]
    if isinstance(value, (set, tuple)):
        raise errors.BadRequest(f"error converting YAML to JSON: unsupported value of type {type(value).__name__}")
    if type(value) is int and not _INT64_MIN <= value <= _UINT64_MAX:
        # Go's YAML reads an integer beyond 64 bits as a float64, or as a string when no float holds it
        try:
            return float(value)
        except OverflowError:
            return str(value)
    if type(value) is float:
        if not math.isfinite(value):
            shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
            raise errors.BadRequest(f"error converting YAML to JSON: json: unsupported value: {shown}")
        return goyaml.json_number(value)  # as the JSON Go writes reads: ``replicas: 3.0`` is 3
    return value


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _json_key(key: Any, value: Any) -> str:
    """A YAML map key as upstream's conversion writes it (``convertToJSONableObject``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(repr(key), f"{key:.8g}")
    # Only a null key is left (go-yaml's keys are strings, numbers, bools or null): Go prints its type as %s of nil.
    raise errors.BadRequest(
        f"error converting YAML to JSON: unsupported map key of type: %!s(<nil>), key: <nil>, value: {_go_value(value)}"
    )


def _go_value(value: Any) -> str:
    """A YAML value as Go's ``%+#v`` prints what go-yaml decoded (for an error message)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = ", ".join(f"{_go_value(k)}:{_go_value(v)}" for k, v in value.items())
        return f"map[interface {{}}]interface {{}}{{{items}}}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_value(v) for v in value) + "}"
    return str(value)


_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def encode(value: Any, wanted: Wanted) -> bytes:
    """Serialise a response body in the wanted form."""
    if wanted.yaml:
        text: str = yaml.dump(value, Dumper=_YAML_DUMPER, default_flow_style=False, sort_keys=False)
        return text.encode()
    return orjson.dumps(value)
