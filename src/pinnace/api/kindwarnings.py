"""The warnings kube-apiserver gives for a Service or an Ingress that is valid but likely not what was meant
(pods and pod templates have :mod:`pinnace.api.podwarnings`). The object is stored all the same.

- Service, on every create and update (upstream's ``GetWarningsForService``, v1.32): the deprecated
  topology-aware-hints annotation, external IPs on an ``ExternalName`` service (ignored), and an
  ``externalName`` on a service of another type (ignored). Left out: its warnings for IP addresses and
  prefixes in a form Go's ``netip`` parser refuses (leading zeros) or does not print back (IPv6 not in RFC
  5952 form), whose wording carries Go's own parser errors.
- Ingress, on create only (its strategy's ``WarningsOnCreate``): the deprecated ``kubernetes.io/ingress.class``
  annotation.
"""

from __future__ import annotations

from typing import Any

from pinnace.api.validation.networking import INGRESS_CLASS_ANNOTATION

__all__ = ["for_ingress", "for_object", "for_service"]

Obj = dict[str, Any]

_TOPOLOGY_HINTS = "service.kubernetes.io/topology-aware-hints"
_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
_EXTERNAL_NAME = "ExternalName"


def for_object(group: str, kind: str, obj: Obj, old: Obj | None) -> list[str]:
    """The warnings for a create (``old`` None) or update of a Service or Ingress (none for other kinds)."""
    if (group, kind) == ("", "Service"):
        return for_service(obj)
    if (group, kind) == ("networking.k8s.io", "Ingress") and old is None:
        return for_ingress(obj)
    return []


def _annotations(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def for_ingress(ingress: Obj) -> list[str]:
    """Upstream's warnings for a new ``ingress``."""
    if INGRESS_CLASS_ANNOTATION in _annotations(ingress):
        return [f"annotation \"{INGRESS_CLASS_ANNOTATION}\" is deprecated, please use 'spec.ingressClassName' instead"]
    return []


def for_service(service: Obj) -> list[str]:
    """Upstream's warnings for ``service`` (a create's, or an update's new object)."""
    spec = service.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    out: list[str] = []
    if _TOPOLOGY_HINTS in _annotations(service):
        out.append(f"annotation {_TOPOLOGY_HINTS} is deprecated, please use {_TOPOLOGY_MODE} instead")
    external_name = spec.get("type") == _EXTERNAL_NAME
    if external_name and spec.get("externalIPs"):
        out.append(f'spec.externalIPs is ignored when spec.type is "{_EXTERNAL_NAME}"')
    if not external_name and spec.get("externalName"):
        out.append(f'spec.externalName is ignored when spec.type is not "{_EXTERNAL_NAME}"')
    return out
