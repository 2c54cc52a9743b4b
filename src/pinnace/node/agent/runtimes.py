"""The container runtimes a node agent can run on, by name (``pinnace node --runtime NAME``).

A runtime registers a factory: ``(state_dir, node_ip) -> RuntimeService``
(and optionally an image service). ``process`` is built in; another runtime
adds itself with one line here (``RUNTIMES["oci"] = oci_factory``), keeping
its imports inside the factory so that choosing ``process`` loads nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pinnace.node.cri import ImageService, RuntimeService

__all__ = ["RUNTIMES", "RuntimeParts", "make_runtime"]


@dataclass(frozen=True, slots=True)
class RuntimeParts:
    """What a runtime factory gives the agent."""

    runtime: RuntimeService
    images: ImageService | None = None


#: ``(state dir, node IP) -> RuntimeParts``
Factory = Callable[[Path, str], RuntimeParts]


def _process(state_dir: Path, node_ip: str) -> RuntimeParts:
    from pinnace.node.process import ProcessRuntime

    return RuntimeParts(ProcessRuntime(state_dir, node_ip=node_ip))


def _oci(state_dir: Path, node_ip: str) -> RuntimeParts:
    from pinnace.node.oci.factory import oci_parts

    return oci_parts(state_dir, node_ip)


RUNTIMES: dict[str, Factory] = {"process": _process, "oci": _oci}


def make_runtime(name: str, state_dir: Path, node_ip: str) -> RuntimeParts:
    """The named runtime on ``state_dir``; ValueError names the known ones."""
    try:
        factory = RUNTIMES[name]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; known: {', '.join(sorted(RUNTIMES))}") from None
    return factory(state_dir, node_ip)
