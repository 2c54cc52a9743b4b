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
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from pinnace.api import errors, protobuf

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
    return value


def decode_yaml(body: bytes) -> Any:
    """Parse YAML (one document) or raise 400."""
    try:
        return yaml.load(body, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"error converting YAML to JSON: {exc}") from None


def _loader_without_timestamps() -> Any:
    """A fast safe YAML loader that keeps timestamps as strings, as the API does."""
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        pass

    Loader.yaml_implicit_resolvers = {
        ch: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
        for ch, resolvers in base.yaml_implicit_resolvers.items()
    }
    return Loader


_YAML_LOADER: Any = _loader_without_timestamps()
_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def encode(value: Any, wanted: Wanted) -> bytes:
    """Serialise a response body in the wanted form."""
    if wanted.yaml:
        text: str = yaml.dump(value, Dumper=_YAML_DUMPER, default_flow_style=False, sort_keys=False)
        return text.encode()
    return orjson.dumps(value)
