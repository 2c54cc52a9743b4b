"""The Pod Security Standards (baseline and restricted, v1.32) as checks of a pod's metadata and spec.

Each check returns None (allowed) or a :class:`Violation` with upstream's
``ForbiddenReason`` and ``ForbiddenDetail``; :func:`evaluate` runs the checks of
a level at a version in upstream's order (the baseline checks, then the
restricted ones, each group by check ID, a restricted check replacing the
baseline check it overrides), and :func:`describe` joins the violations as
upstream's messages do: ``host namespaces (hostNetwork=true), privileged
(container "a" must not set securityContext.privileged=true)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["LATEST", "LEVELS", "Violation", "describe", "evaluate", "parse_version"]

Obj = dict[str, Any]

LEVELS = ("privileged", "baseline", "restricted")
#: The version ``latest`` means (the standards as of this release).
LATEST = (1, 32)


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed check: why (short) and what exactly."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def parse_version(text: str | None) -> tuple[int, int] | None:
    """``latest`` (or empty) → LATEST; ``v1.N`` → (1, N), capped at LATEST; None if malformed."""
    if not text or text == "latest":
        return LATEST
    major, dot, minor = text.removeprefix("v").partition(".")
    if not text.startswith("v") or not dot or not major.isdigit() or not minor.isdigit() or major != "1":
        return None
    return min((1, int(minor)), LATEST)


def _quote(items: list[str]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                yield c


def _sc(c: Obj) -> Obj:
    return c.get("securityContext") or {}


def _pod_sc(spec: Obj) -> Obj:
    return spec.get("securityContext") or {}


def _named(kind: str, names: list[str]) -> str:
    return f"{_plural(kind, kind + 's', len(names))} {_quote(names)}"


def _setters(pod_bad: bool, containers: list[str]) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(_named("container", containers))
    return out


# ---- baseline ---------------------------------------------------------------------------------------------
_ALLOWED_CAPS = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE"}
    | {"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
_SYSCTLS = {
    (1, 0): frozenset(
        {
            "kernel.shm_rmid_forced",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.ping_group_range",
            "net.ipv4.ip_unprivileged_port_start",
        }
    ),
    (1, 27): frozenset({"net.ipv4.ip_local_reserved_ports"}),
    (1, 29): frozenset(
        {
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        }
    ),
}
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
_GOOD_SECCOMP = ("RuntimeDefault", "Localhost")


def app_armor_profile(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """AppArmor may not be turned off or overridden with a non-local profile."""
    bad = sorted(
        f'{k}="{v}"'
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith(_APPARMOR_ANNOTATION) and v and v != "runtime/default" and not str(v).startswith("localhost/")
    )
    if bad:
        return Violation(_plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad)), ", ".join(bad))
    pod_type = (_pod_sc(spec).get("appArmorProfile") or {}).get("type")
    values = set()
    if pod_type is not None and pod_type not in _GOOD_SECCOMP:
        values.add(pod_type)
    containers = []
    for c in _containers(spec):
        kind = (_sc(c).get("appArmorProfile") or {}).get("type")
        if kind is not None and kind not in _GOOD_SECCOMP:
            containers.append(c.get("name", ""))
            values.add(kind)
    who = _setters(pod_type is not None and pod_type not in _GOOD_SECCOMP, containers)
    if who:
        detail = f"{' and '.join(who)} must not set securityContext.appArmorProfile.type to {_quote(sorted(values))}"
        return Violation("forbidden AppArmor profile", detail)
    return None


def capabilities_baseline(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Only the default capabilities may be added."""
    bad, caps = [], set()
    for c in _containers(spec):
        added = [str(x) for x in (_sc(c).get("capabilities") or {}).get("add") or [] if x not in _ALLOWED_CAPS]
        if added:
            bad.append(c.get("name", ""))
            caps.update(added)
    if bad:
        detail = (
            f"{_named('container', bad)} must not include {_quote(sorted(caps))} in securityContext.capabilities.add"
        )
        return Violation("non-default capabilities", detail)
    return None


def host_namespaces(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """No sharing of the host's network, PID or IPC namespace."""
    shared = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return Violation("host namespaces", ", ".join(shared)) if shared else None


def host_path_volumes(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """No hostPath volumes."""
    names = [str(v.get("name", "")) for v in spec.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
    return Violation("hostPath volumes", _named("volume", names)) if names else None


def host_ports(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """No host ports."""
    bad, ports = [], set()
    for c in _containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports.update(used)
    if bad:
        uses = f"{_plural('uses', 'use', len(bad))} {_plural('hostPort', 'hostPorts', len(ports))}"
        detail = f"{_named('container', bad)} {uses} {', '.join(sorted(ports))}"
        return Violation("hostPort", detail)
    return None


def privileged(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """No privileged containers."""
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if bad:
        return Violation("privileged", f"{_named('container', bad)} must not set securityContext.privileged=true")
    return None


def proc_mount(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """The default /proc masks stay."""
    bad, kinds = [], set()
    for c in _containers(spec):
        mount = _sc(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(c.get("name", ""))
            kinds.add(str(mount))
    if bad:
        detail = f"{_named('container', bad)} must not set securityContext.procMount to {_quote(sorted(kinds))}"
        return Violation("procMount", detail)
    return None


def se_linux_options(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Only the container SELinux types; no custom user or role."""
    types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: Obj | None) -> bool:
        if opts is None:
            return True
        ok = True
        if opts.get("type", "") not in _SELINUX_TYPES:
            types.add(str(opts.get("type")))
            ok = False
        for key in ("user", "role"):
            if opts.get(key):
                ok = False
                flags[key] = True
        return ok

    pod_bad = not valid(_pod_sc(spec).get("seLinuxOptions"))
    containers = [c.get("name", "") for c in _containers(spec) if not valid(_sc(c).get("seLinuxOptions"))]
    who = _setters(pod_bad, containers)
    if not who:
        return None
    data = []
    if types:
        data.append(f"{_plural('type', 'types', len(types))} {_quote(sorted(types))}")
    data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
    return Violation(
        "seLinuxOptions", f"{' and '.join(who)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"
    )


def seccomp_baseline(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Seccomp may not be turned off (Unconfined)."""
    if version < (1, 19):
        annotations = meta.get("annotations") or {}
        keys = [SECCOMP_POD_ANNOTATION] + [
            SECCOMP_CONTAINER_ANNOTATION + str(c.get("name", "")) for c in _containers(spec)
        ]
        bad = sorted(
            f'{k}="{annotations[k]}"'
            for k in keys
            if k in annotations
            and annotations[k] not in ("runtime/default", "docker/default")
            and not str(annotations[k]).startswith("localhost/")
        )
        if bad:
            return Violation(
                "seccompProfile", f"forbidden {_plural('annotation', 'annotations', len(bad))} {', '.join(bad)}"
            )
        return None
    values: set[str] = set()
    pod_type = (_pod_sc(spec).get("seccompProfile") or {}).get("type")
    pod_bad = pod_type is not None and pod_type not in _GOOD_SECCOMP
    if pod_bad:
        values.add(str(pod_type))
    containers = []
    for c in _containers(spec):
        kind = (_sc(c).get("seccompProfile") or {}).get("type")
        if kind is not None and kind not in _GOOD_SECCOMP:
            containers.append(c.get("name", ""))
            values.add(str(kind))
    who = _setters(pod_bad, containers)
    if who:
        detail = f"{' and '.join(who)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}"
        return Violation("seccompProfile", detail)
    return None


def sysctls(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Only the namespaced, isolated ("safe") sysctls."""
    allowed = frozenset().union(*(names for since, names in _SYSCTLS.items() if version >= since))
    bad = [str(s.get("name", "")) for s in _pod_sc(spec).get("sysctls") or [] if s.get("name") not in allowed]
    return Violation("forbidden sysctls", ", ".join(bad)) if bad else None


def windows_host_process(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """No Windows HostProcess containers."""
    pod_bad = (_pod_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True
    containers = [
        c.get("name", "") for c in _containers(spec) if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True
    ]
    who = _setters(pod_bad, containers)
    if who:
        return Violation(
            "hostProcess", f"{' and '.join(who)} must not set securityContext.windowsOptions.hostProcess=true"
        )
    return None


# ---- restricted -------------------------------------------------------------------------------------------
_RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)


def _windows(spec: Obj) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def allow_privilege_escalation(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Every container must set allowPrivilegeEscalation=false."""
    if version < (1, 8) or (version >= (1, 25) and _windows(spec)):
        return None
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        detail = f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false"
        return Violation("allowPrivilegeEscalation != false", detail)
    return None


def capabilities_restricted(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Every container drops ALL capabilities and adds at most NET_BIND_SERVICE."""
    if version < (1, 22) or (version >= (1, 25) and _windows(spec)):
        return capabilities_baseline(meta, spec, version)
    missing, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if capabilities is None:
            missing.append(c.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing.append(c.get("name", ""))
        added = [str(x) for x in capabilities.get("add") or [] if x != "NET_BIND_SERVICE"]
        if added:
            adding.append(c.get("name", ""))
            caps.update(added)
    details = []
    if missing:
        details.append(f'{_named("container", missing)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(
            f"{_named('container', adding)} must not include {_quote(sorted(caps))} in securityContext.capabilities.add"
        )
    return Violation("unrestricted capabilities", "; ".join(details)) if details else None


def restricted_volumes(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected and secret volumes."""
    names = sorted(
        str(v.get("name", ""))
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and not _RESTRICTED_VOLUME_TYPES.intersection(v)
    )
    if names:
        listed = "[" + " ".join(f'"{n}"' for n in names) + "]"
        return Violation("restricted volume types", f"volumes {listed} have restricted types")
    return None


def run_as_non_root(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """The pod or every container must set runAsNonRoot=true (and none false)."""
    pod_value = _pod_sc(spec).get("runAsNonRoot")
    explicit, implicit = [], []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is False:
            explicit.append(c.get("name", ""))
        elif value is None and pod_value is not True:
            implicit.append(c.get("name", ""))
    who = _setters(pod_value is False, explicit)
    if who:
        return Violation("runAsNonRoot != true", f"{' and '.join(who)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        detail = f"pod or {_named('container', implicit)} must set securityContext.runAsNonRoot=true"
        return Violation("runAsNonRoot != true", detail)
    return None


def run_as_user(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """Nothing may run as UID 0."""
    if version < (1, 23):
        return None
    pod_bad = _pod_sc(spec).get("runAsUser") == 0
    containers = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    who = _setters(pod_bad, containers)
    return Violation("runAsUser=0", f"{' and '.join(who)} must not set runAsUser=0") if who else None


def seccomp_restricted(meta: Obj, spec: Obj, version: tuple[int, int]) -> Violation | None:
    """The pod or every container must set seccompProfile RuntimeDefault or Localhost."""
    if version < (1, 19) or (version >= (1, 25) and _windows(spec)):
        return seccomp_baseline(meta, spec, version)
    values: set[str] = set()
    pod_type = (_pod_sc(spec).get("seccompProfile") or {}).get("type")
    pod_bad = pod_type is not None and pod_type not in _GOOD_SECCOMP
    if pod_bad:
        values.add(str(pod_type))
    explicit, implicit = [], []
    for c in _containers(spec):
        kind = (_sc(c).get("seccompProfile") or {}).get("type")
        if kind is not None:
            if kind not in _GOOD_SECCOMP:
                explicit.append(c.get("name", ""))
                values.add(str(kind))
        elif pod_type is None or pod_bad:
            implicit.append(c.get("name", ""))
    who = _setters(pod_bad, explicit)
    if who:
        detail = f"{' and '.join(who)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}"
        return Violation("seccompProfile", detail)
    if implicit:
        detail = (
            f"pod or {_named('container', implicit)} must set securityContext.seccompProfile.type to "
            '"RuntimeDefault" or "Localhost"'
        )
        return Violation("seccompProfile", detail)
    return None


Check = Callable[[Obj, Obj, tuple[int, int]], Violation | None]

#: Baseline checks by upstream check ID.
BASELINE: dict[str, Check] = {
    "appArmorProfile": app_armor_profile,
    "capabilities_baseline": capabilities_baseline,
    "hostNamespaces": host_namespaces,
    "hostPathVolumes": host_path_volumes,
    "hostPorts": host_ports,
    "privileged": privileged,
    "procMount": proc_mount,
    "seLinuxOptions": se_linux_options,
    "seccompProfile_baseline": seccomp_baseline,
    "sysctls": sysctls,
    "windowsHostProcess": windows_host_process,
}
#: Restricted checks by upstream check ID, and the baseline checks each replaces.
RESTRICTED: dict[str, Check] = {
    "allowPrivilegeEscalation": allow_privilege_escalation,
    "capabilities_restricted": capabilities_restricted,
    "restrictedVolumes": restricted_volumes,
    "runAsNonRoot": run_as_non_root,
    "runAsUser": run_as_user,
    "seccompProfile_restricted": seccomp_restricted,
}
_OVERRIDES = {"capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline"}


def evaluate(level: str, version: tuple[int, int], meta: Obj, spec: Obj) -> list[Violation]:
    """Every check of ``level`` at ``version`` the pod fails, in upstream's order (none for privileged)."""
    if level == "privileged":
        return []
    checks = [f for k, f in sorted(BASELINE.items()) if level == "baseline" or k not in _OVERRIDES]
    if level == "restricted":
        checks += [f for _, f in sorted(RESTRICTED.items())]
    found = [check(meta, spec, version) for check in checks]
    return [v for v in found if v is not None]


def describe(violations: list[Violation]) -> str:
    """Upstream's aggregated message: ``reason (detail), reason (detail)``."""
    return ", ".join(str(v) for v in violations)
