"""The ``oci`` runtime's records on disk: sandbox and container configs as JSON, and back.

A restarted agent rebuilds its view of what runs from these files alone, so
they hold the whole CRI config each was created from.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import orjson

from pinnace.node.cri import ContainerConfig, Mount, Resources, SandboxConfig, SecurityContext
from pinnace.node.cri import sandbox_config_from_dict as cri_sandbox_config_from_dict


def sandbox_config_to_dict(config: SandboxConfig) -> dict[str, Any]:
    """A SandboxConfig as plain JSON data."""
    data = asdict(config)
    data["labels"], data["annotations"] = dict(config.labels), dict(config.annotations)
    return data


def sandbox_config_from_dict(data: dict[str, Any]) -> SandboxConfig:
    """The SandboxConfig that :func:`sandbox_config_to_dict` wrote."""
    return cri_sandbox_config_from_dict(data)


def container_config_to_dict(config: ContainerConfig) -> dict[str, Any]:
    """A ContainerConfig as plain JSON data."""
    data = asdict(config)
    data["labels"], data["annotations"] = dict(config.labels), dict(config.annotations)
    return data


def container_config_from_dict(data: dict[str, Any]) -> ContainerConfig:
    """The ContainerConfig that :func:`container_config_to_dict` wrote."""
    fields = dict(data)
    fields["command"] = tuple(data.get("command", ()))
    fields["args"] = tuple(data.get("args", ()))
    fields["env"] = tuple((name, value) for name, value in data.get("env", ()))
    fields["mounts"] = tuple(Mount(**m) for m in data.get("mounts", ()))
    fields["resources"] = Resources(**data.get("resources", {}))
    security = dict(data.get("security", {}))
    for key in ("capabilities_add", "capabilities_drop"):
        security[key] = tuple(security.get(key, ()))
    fields["security"] = SecurityContext(**security)
    return ContainerConfig(**fields)


def write_record(path: str, data: dict[str, Any]) -> None:
    """Write a record atomically (rename), so a crash never leaves half of one."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(orjson.dumps(data))
    os.replace(tmp, path)


def read_record(path: str) -> dict[str, Any] | None:
    """A record, or None when it is missing or unreadable."""
    try:
        with open(path, "rb") as handle:
            data: dict[str, Any] = orjson.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data


class RecordCache:
    """Records read once and read again only when their file changed — another inode, size, mtime or ctime.

    The agent lists every container's state a few times a second (its PLEG)
    and every sandbox for each new pod; a ``stat`` is much cheaper than an
    open, a read and a parse. Records are replaced by rename, so a new
    version is a new inode. The dicts returned are shared: copy before changing one.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int, int, int], dict[str, Any]]] = {}

    def read(self, path: str) -> dict[str, Any] | None:
        """The record at ``path`` (None when it is missing or unreadable)."""
        try:
            st = os.stat(path)
        except OSError:
            self._entries.pop(path, None)
            return None
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        entry = self._entries.get(path)
        if entry is not None and entry[0] == key:
            return entry[1]
        data = read_record(path)
        if data is None:
            self._entries.pop(path, None)
        else:
            self._entries[path] = (key, data)
        return data

    def forget_under(self, directory: str) -> None:
        """Drop the records of a directory that is going away."""
        prefix = directory.rstrip("/") + "/"
        for path in [p for p in self._entries if p.startswith(prefix)]:
            del self._entries[path]
