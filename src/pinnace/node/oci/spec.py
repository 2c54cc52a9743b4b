"""The OCI runtime spec (``config.json``) of a container, from its image config and its ContainerConfig.

Plain functions, no I/O except reading the rootfs's ``/etc/passwd`` and
``/etc/group`` to resolve a named image user. The defaults follow containerd's
CRI plugin (``pkg/cri`` + ``oci/spec.go``) so a workload behaves as it would on
a kubelet with containerd: its default capability set, masked and read-only
paths, the standard ``/proc``, ``/dev`` and ``/sys`` mounts, new pid/ipc/uts/mount
namespaces while the network namespace is the sandbox's, and cgroup limits
computed as the kubelet computes them (shares from requests, CFS quota from
limits).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.node.cri import ContainerConfig, Mount, RuntimeFailure
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.config import process_args as image_process_args

OCI_VERSION = "1.0.2"
#: containerd's default capabilities (oci/spec.go ``defaultUnixCaps``).
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
#: Every capability, for privileged containers (linux/capability.h up to CAP_CHECKPOINT_RESTORE).
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
#: containerd's masked and read-only paths for unprivileged containers.
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: CFS period the kubelet uses (100 ms), and its floor/ceiling for cpu shares.
CPU_PERIOD = 100_000
MIN_SHARES = 2
MAX_SHARES = 262_144


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    """What a container takes from its pod sandbox."""

    hostname: str
    #: Network namespace path to join ("" to share the host's: hostNetwork pods).
    netns_path: str
    hosts_file: str
    resolv_file: str
    hostname_file: str
    #: The pod's cgroup, relative to the cgroup root (``pinnace/pod<uid>``).
    cgroup_parent: str
    #: The pod's IPC and UTS namespaces to join, and its shared /dev/shm ("": the container's own).
    ipc_path: str = ""
    uts_path: str = ""
    shm_dir: str = ""


def process_args(image: ImageConfig, command: Sequence[str], args: Sequence[str]) -> list[str]:
    """The process's argv by the kubelet's command/args rules (RuntimeFailure when there is none)."""
    argv = image_process_args(image, command, args)
    if not argv:
        raise RuntimeFailure("no command specified: the image has no Entrypoint or Cmd and the pod gives none")
    return argv


def merge_env(image_env: Sequence[str], env: Sequence[tuple[str, str]], hostname: str) -> list[str]:
    """The image's environment, then the container's (a later name replaces an earlier in place)."""
    merged: dict[str, str] = {}
    for entry in image_env:
        name, _, value = entry.partition("=")
        merged[name] = value
    merged.setdefault("PATH", DEFAULT_PATH)
    merged["HOSTNAME"] = hostname
    for name, value in env:
        merged[name] = value
    return [f"{name}={value}" for name, value in merged.items()]


def _lookup(rootfs: str, filename: str, name: str, key: int = 0) -> list[str] | None:
    try:
        with open(os.path.join(rootfs, filename.lstrip("/"))) as handle:
            for line in handle:
                fields = line.rstrip("\n").split(":")
                if len(fields) > 3 and fields[key] == name:
                    return fields
    except OSError:
        return None
    return None


def resolve_user(config: ContainerConfig, image: ImageConfig, rootfs: str) -> dict[str, int]:
    """uid/gid: runAsUser/runAsGroup, else the image's User (``uid[:gid]`` or names from the rootfs)."""
    security = config.security
    user_part, _, group_part = image.user.partition(":")
    uid, gid = 0, 0
    if user_part:
        found = _lookup(rootfs, "/etc/passwd", user_part, key=2 if user_part.isdigit() else 0)
        if found is None and not user_part.isdigit():
            raise RuntimeFailure(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = int(user_part) if user_part.isdigit() else int(found[2]) if found else 0
        gid = int(found[3]) if found else 0
    if group_part:
        entry = _lookup(rootfs, "/etc/group", group_part, key=2 if group_part.isdigit() else 0)
        if entry is None and not group_part.isdigit():
            raise RuntimeFailure(f"unable to find group {group_part}: no matching entries in group file")
        gid = int(group_part) if group_part.isdigit() else int(entry[2]) if entry else 0
    if security.run_as_user is not None:
        uid = security.run_as_user
    if security.run_as_group is not None:
        gid = security.run_as_group
    return {"uid": uid, "gid": gid}


def _cap_name(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") or name == "ALL" else f"CAP_{name}"


def capabilities(config: ContainerConfig) -> list[str]:
    """The capability set: containerd's defaults with the securityContext's drop, then add ("ALL" honoured)."""
    security = config.security
    if security.privileged:
        return list(ALL_CAPABILITIES)
    caps = list(DEFAULT_CAPABILITIES)
    drops = {_cap_name(c) for c in security.capabilities_drop}
    adds = [_cap_name(c) for c in security.capabilities_add]
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    if "ALL" in adds:
        caps = list(ALL_CAPABILITIES)
    for cap in adds:
        if cap != "ALL" and cap not in caps:
            caps.append(cap)
    return caps


def cpu_shares(millis_request: int | None, millis_limit: int | None) -> int:
    """The kubelet's MilliCPUToShares (a limit stands in for a missing request, as defaulting does)."""
    millis = millis_request if millis_request is not None else millis_limit
    if not millis:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, millis * 1024 // 1000))


def resources(config: ContainerConfig) -> dict[str, Any]:
    """linux.resources: memory limit, CFS quota/period from the cpu limit, shares from the request."""
    limits = config.resources
    out: dict[str, Any] = {
        "cpu": {"shares": cpu_shares(limits.cpu_millis_request, limits.cpu_millis_limit)},
        "devices": [{"allow": config.security.privileged, "access": "rwm"}],
    }
    if limits.cpu_millis_limit:
        out["cpu"]["period"] = CPU_PERIOD
        out["cpu"]["quota"] = max(1000, limits.cpu_millis_limit * CPU_PERIOD // 1000)
    if limits.memory_limit_bytes:
        out["memory"] = {"limit": limits.memory_limit_bytes, "swap": limits.memory_limit_bytes}
    return out


def _mount(destination: str, kind: str, source: str, options: Sequence[str]) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def mounts(config: ContainerConfig, sandbox: SandboxPaths) -> list[dict[str, Any]]:
    """The standard mounts, the pod's /etc files, then the volume mounts (parents before children)."""
    privileged = config.security.privileged
    sys_options = ["nosuid", "noexec", "nodev", "rw" if privileged else "ro"]
    out = [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts",
               ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/sys", "sysfs", "sysfs", sys_options),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        _mount("/dev/shm", "bind", sandbox.shm_dir, ["rbind", "rprivate", "rw"]) if sandbox.shm_dir else
        _mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ]  # fmt: skip
    user_paths = {m.container_path.rstrip("/") for m in config.mounts}
    for destination, source in (
        ("/etc/hosts", sandbox.hosts_file),
        ("/etc/resolv.conf", sandbox.resolv_file),
        ("/etc/hostname", sandbox.hostname_file),
    ):
        if destination not in user_paths and source:
            out.append(_mount(destination, "bind", source, ["rbind", "rprivate", "rw"]))
    for volume in sorted(config.mounts, key=_depth):
        out.append(_volume_mount(volume))
    return out


def _namespace(kind: str, path: str) -> dict[str, str]:
    return {"type": kind, "path": path} if path else {"type": kind}


def _depth(mount: Mount) -> int:
    return len([part for part in mount.container_path.split("/") if part])


def _volume_mount(volume: Mount) -> dict[str, Any]:
    return _mount(
        volume.container_path, "bind", volume.host_path, ["rbind", "rprivate", "ro" if volume.readonly else "rw"]
    )


def build_spec(
    config: ContainerConfig,
    image: ImageConfig,
    *,
    container_id: str,
    rootfs: str,
    sandbox: SandboxPaths,
    pid_namespace: str = "",
) -> dict[str, Any]:
    """The whole ``config.json`` for a container (``pid_namespace``: the path of a process namespace to join)."""
    security = config.security
    caps = capabilities(config)
    no_new_privs = security.allow_privilege_escalation is False and not security.privileged
    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": resolve_user(config, image, rootfs),
        "args": process_args(image, config.command, config.args),
        "env": merge_env(image.env, config.env, sandbox.hostname),
        "cwd": config.working_dir or image.working_dir or "/",
        "capabilities": {key: caps for key in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": no_new_privs,
    }
    namespaces = [_namespace("pid", pid_namespace), {"type": "mount"}, _namespace("ipc", sandbox.ipc_path)]
    if sandbox.netns_path:
        namespaces += [{"type": "network", "path": sandbox.netns_path}, _namespace("uts", sandbox.uts_path)]
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": resources(config),
        "cgroupsPath": f"/{sandbox.cgroup_parent.strip('/')}/{container_id}",
    }
    if not security.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": security.read_only_root_filesystem},
        "mounts": mounts(config, sandbox),
        "linux": linux,
        "annotations": dict(config.annotations),
    }
    if sandbox.netns_path:
        spec["hostname"] = sandbox.hostname
    return spec
