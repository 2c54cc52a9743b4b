"""A container's environment, as the kubelet builds it: env, envFrom, valueFrom, service links, ``$(VAR)``.

:func:`container_env` resolves ``env`` (value with ``$(VAR)`` expansion over the
variables defined before it; ``valueFrom`` fieldRef, resourceFieldRef,
configMapKeyRef and secretKeyRef) and ``envFrom`` (with ``prefix``), then adds
the service variables (``KUBERNETES_SERVICE_HOST`` …) that the container did
not define — in upstream's order (``kubelet_pods.go`` makeEnvironmentVariables).
:func:`expand` is upstream's ``expansion.Expand`` (``$(VAR)``, ``$$`` escapes),
also used for command and args. A required reference that cannot be resolved
raises :class:`ConfigError`, which the agent reports as
``CreateContainerConfigError`` and retries.

:func:`field_value` and :func:`resource_value` are the downward API, shared
with downwardAPI volumes.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pinnace.api import podutil

__all__ = [
    "ConfigError",
    "SourceLookup",
    "container_env",
    "expand",
    "field_value",
    "resource_value",
]

Obj = dict[str, Any]
#: ``(kind, namespace, name) -> object or None``: reads ConfigMaps and Secrets for the pod.
SourceLookup = Callable[[str, str, str], Awaitable[Obj | None]]

_KEY_RE = re.compile(r"^(metadata\.(labels|annotations))\['(.*)'\]$")
_ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """A container's configuration cannot be made (a missing ConfigMap, Secret or key): CreateContainerConfigError."""


def expand(text: str, mapping: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` references from ``mapping``; ``$$`` is a literal ``$``; unknown references stay as they are."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                end = rest.find(")", 1)
                if end < 0:
                    out.append("$(")
                    advance = 1
                else:
                    name = rest[1:end]
                    out.append(mapping.get(name, f"$({name})"))
                    advance = end + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def field_value(pod: Obj, path: str) -> str:
    """A downward-API ``fieldRef`` value; ConfigError for an unsupported path."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    match = _KEY_RE.match(path)
    if match:
        return str((meta.get(match.group(2)) or {}).get(match.group(3), ""))
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.hostIPs": ",".join(ip.get("ip", "") for ip in status.get("hostIPs") or []),
        "status.podIPs": ",".join(ip.get("ip", "") for ip in status.get("podIPs") or []),
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(values.items()))
    raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def resource_value(pod: Obj, ref: Obj, default_container: str, allocatable: Mapping[str, str]) -> str:
    """A ``resourceFieldRef`` value: the container's limit/request (the node's allocatable when no limit), / divisor."""
    name = ref.get("containerName") or default_container
    containers = [
        *((pod.get("spec") or {}).get("containers") or []),
        *((pod.get("spec") or {}).get("initContainers") or []),
    ]
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise ConfigError(f"resourceFieldRef: no container {name!r} in the pod")
    resource = str(ref.get("resource") or "")
    kind, _, what = resource.partition(".")
    resources = container.get("resources") or {}
    quantity = (resources.get(kind) or {}).get(what)
    if quantity is None and kind == "limits":
        quantity = allocatable.get(what)
    if quantity is None:
        quantity = "0"
    divisor = ref.get("divisor") or "1"
    if what == "cpu":
        value, unit = podutil.milli_value(quantity), podutil.milli_value(divisor)
    else:
        value, unit = podutil.value_of(quantity), podutil.value_of(divisor)
    return str(max(0, math.ceil(value / unit)) if unit else 0)


async def _key_ref(lookup: SourceLookup, kind: str, namespace: str, ref: Obj) -> str | None:
    obj = await lookup(kind, namespace, str(ref.get("name") or ""))
    optional = bool(ref.get("optional"))
    label = "configmap" if kind == "ConfigMap" else "secret"
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{label} "{ref.get("name")}" not found')
    key = str(ref.get("key") or "")
    value = source_data(obj).get(key)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{ref.get('name')}")
    return value.decode(errors="replace")


def source_data(obj: Obj) -> dict[str, bytes]:
    """A ConfigMap's data and binaryData, or a Secret's data (decoded) and stringData, as bytes by key."""
    out: dict[str, bytes] = {}
    if obj.get("kind") == "Secret" or "type" in obj:
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(value or "")
        for key, value in (obj.get("stringData") or {}).items():
            out[key] = str(value).encode()
        return out
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = base64.b64decode(value or "")
    for key, value in (obj.get("data") or {}).items():
        out[key] = str(value).encode()
    return out


async def container_env(
    pod: Obj,
    container: Obj,
    lookup: SourceLookup,
    *,
    service_env: Mapping[str, str],
    allocatable: Mapping[str, str],
) -> list[tuple[str, str]]:
    """The container's environment, in order (see the module docstring); ConfigError when a reference is missing."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(field)
            if not ref:
                continue
            obj = await lookup(kind, namespace, str(ref.get("name") or ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{"configmap" if kind == "ConfigMap" else "secret"} "{ref.get("name")}" not found')
            for key, raw in source_data(obj).items():
                if _ENV_NAME_RE.match(prefix + key):
                    env[prefix + key] = raw.decode(errors="replace")
    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        if "valueFrom" not in var or var.get("value"):
            env[name] = expand(str(var.get("value") or ""), {**service_env, **env})
            continue
        source = var.get("valueFrom") or {}
        value: str | None
        if source.get("fieldRef"):
            value = field_value(pod, str(source["fieldRef"].get("fieldPath") or ""))
        elif source.get("resourceFieldRef"):
            value = resource_value(pod, source["resourceFieldRef"], str(container.get("name")), allocatable)
        elif source.get("configMapKeyRef"):
            value = await _key_ref(lookup, "ConfigMap", namespace, source["configMapKeyRef"])
        elif source.get("secretKeyRef"):
            value = await _key_ref(lookup, "Secret", namespace, source["secretKeyRef"])
        else:
            value = ""
        if value is not None:
            env[name] = value
    for key, default in service_env.items():
        env.setdefault(key, default)
    return list(env.items())


def kubernetes_service_env(host: str, port: int) -> dict[str, str]:
    """The ``kubernetes`` service's variables, pointing at the API server the node itself uses."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }
