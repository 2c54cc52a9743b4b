"""APIService validation (upstream ``kube-aggregator``'s ``ValidateAPIService``), for apiregistration.k8s.io/v1.

The name must be ``spec.version + "." + spec.group`` (``v1.`` for the core
group, the only one whose group may be empty); the group a DNS-1123 subdomain,
the version a DNS-1035 label; the group priority in (0, 20000] and the version
priority in (0, 1000]. A local APIService (no ``spec.service``) may have no CA
bundle and no ``insecureSkipTLSVerify``; a service reference needs a namespace,
a name and a valid port, and ``insecureSkipTLSVerify`` excludes a CA bundle.
"""

from __future__ import annotations

from typing import Any

from pinnace.api.errors import Cause
from pinnace.api.names import is_dns1035_label, is_dns1123_subdomain
from pinnace.api.validation.field import invalid, required

__all__ = ["api_service"]

Obj = dict[str, Any]


def api_service(obj: Obj, old: Obj | None) -> list[Cause]:
    """Every problem of an APIService (create and update alike)."""
    spec = obj.get("spec") or {}
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    out: list[Cause] = []
    name = str((obj.get("metadata") or {}).get("name") or "")
    wanted = f"{version}.{group}"
    if name != wanted:
        out.append(invalid("metadata.name", name, f'must be `spec.version+"."+spec.group`: "{wanted}"'))
    if not group and version != "v1":
        out.append(required("spec.group", "only v1 may have an empty group and it better be legacy kube"))
    if group:
        out.extend(invalid("spec.group", group, msg) for msg in is_dns1123_subdomain(group))
    out.extend(invalid("spec.version", version, msg) for msg in is_dns1035_label(version))
    group_priority = spec.get("groupPriorityMinimum") or 0
    if not 0 < group_priority <= 20000:
        out.append(invalid("spec.groupPriorityMinimum", group_priority, "must be positive and less than 20000"))
    version_priority = spec.get("versionPriority") or 0
    if not 0 < version_priority <= 1000:
        out.append(invalid("spec.versionPriority", version_priority, "must be positive and less than 1000"))
    service = spec.get("service")
    ca_bundle, insecure = spec.get("caBundle"), bool(spec.get("insecureSkipTLSVerify"))
    if service is None:
        if ca_bundle:
            out.append(invalid("spec.caBundle", ca_bundle, "local APIServices may not have a caBundle"))
        if insecure:
            detail = "local APIServices may not have insecureSkipTLSVerify"
            out.append(invalid("spec.insecureSkipTLSVerify", True, detail))
        return out
    if not service.get("namespace"):
        out.append(required("spec.service.namespace"))
    if not service.get("name"):
        out.append(required("spec.service.name"))
    port = service.get("port", 443)
    if not isinstance(port, int) or not 0 < port <= 65535:
        out.append(invalid("spec.service.port", port, "must be a valid port number, 1-65535, inclusive"))
    if insecure and ca_bundle:
        out.append(invalid("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present"))
    return out
