"""The warnings kube-apiserver gives for a Service that is valid but likely not what was meant.

Upstream's ``GetWarningsForService`` (v1.32), on every create and update: the deprecated topology-aware-hints
annotation, external IPs on an ``ExternalName`` service (ignored), and an ``externalName`` on a service of
another type (ignored). The service is stored all the same.

Left out: its warnings for IP addresses and prefixes written in a form Go's ``netip`` parser refuses (leading
zeros) or does not print back (IPv6 not in RFC 5952 form), whose wording carries Go's own parser errors.
"""

from __future__ import annotations

from typing import Any

__all__ = ["for_service"]

Obj = dict[str, Any]

_TOPOLOGY_HINTS = "service.kubernetes.io/topology-aware-hints"
_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
_EXTERNAL_NAME = "ExternalName"


def for_service(service: Obj) -> list[str]:
    """Upstream's warnings for ``service`` (a create's, or an update's new object)."""
    meta = service.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    spec = service.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    out: list[str] = []
    if isinstance(annotations, dict) and _TOPOLOGY_HINTS in annotations:
        out.append(f"annotation {_TOPOLOGY_HINTS} is deprecated, please use {_TOPOLOGY_MODE} instead")
    external_name = spec.get("type") == _EXTERNAL_NAME
    if external_name and spec.get("externalIPs"):
        out.append(f'spec.externalIPs is ignored when spec.type is "{_EXTERNAL_NAME}"')
    if not external_name and spec.get("externalName"):
        out.append(f'spec.externalName is ignored when spec.type is not "{_EXTERNAL_NAME}"')
    return out
