"""An image's runtime configuration: what a container of it runs, as the OCI image config says.

The config blob (``application/vnd.oci.image.config.v1+json``, or Docker's
``container.image.v1+json``, the same shape) has a ``config`` object with
``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``, ``User`` and ``ExposedPorts``.
The ``oci`` runtime combines them with the pod spec the way the kubelet does:
a container's ``command`` replaces Entrypoint, its ``args`` replace Cmd, and
with a command but no args the image's Cmd is dropped (:func:`process_args`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pinnace.node.images.manifest import host_platform


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image's config a runtime needs."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> ImageConfig:
        """Read it from a config blob's JSON."""
        conf = doc.get("config") or {}
        return cls(
            entrypoint=tuple(conf.get("Entrypoint") or ()),
            cmd=tuple(conf.get("Cmd") or ()),
            env=tuple(conf.get("Env") or ()),
            working_dir=str(conf.get("WorkingDir") or ""),
            user=str(conf.get("User") or ""),
            exposed_ports=tuple(sorted(conf.get("ExposedPorts") or {})),
            labels=dict(conf.get("Labels") or {}),
            stop_signal=str(conf.get("StopSignal") or ""),
        )

    def env_map(self) -> dict[str, str]:
        """Env as a mapping (later entries win, as with Docker)."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def to_document(self) -> dict[str, Any]:
        """The ``config`` object of a config blob."""
        conf: dict[str, Any] = {}
        if self.entrypoint:
            conf["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            conf["Cmd"] = list(self.cmd)
        if self.env:
            conf["Env"] = list(self.env)
        if self.working_dir:
            conf["WorkingDir"] = self.working_dir
        if self.user:
            conf["User"] = self.user
        if self.exposed_ports:
            conf["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.labels:
            conf["Labels"] = dict(self.labels)
        if self.stop_signal:
            conf["StopSignal"] = self.stop_signal
        return conf


def process_args(image: ImageConfig, command: Sequence[str], args: Sequence[str]) -> list[str]:
    """The argv of a container, from the pod's command/args and the image's Entrypoint/Cmd (kubelet rules)."""
    if command:
        return [*command, *args]
    return [*image.entrypoint, *(args or image.cmd)]


def config_document(config: ImageConfig, diff_ids: Sequence[str], *, created: float | None = None) -> dict[str, Any]:
    """A whole OCI image config blob for a built or imported image."""
    os_name, arch = host_platform()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if created is None else created))
    return {
        "architecture": arch,
        "os": os_name,
        "created": stamp,
        "config": config.to_document(),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": stamp, "created_by": "pinnace image build"} for _ in diff_ids],
    }
