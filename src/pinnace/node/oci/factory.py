"""How a node agent builds the ``oci`` runtime: the runtime, the node's image store and its pod network.

The agent's runtime registry (:mod:`pinnace.node.agent.runtimes`) calls
``(state_dir, node_ip)``; the rest comes from :class:`OCIOptions`, which a
launcher sets in the agent's environment (``PINNACE_OCI_RUNTIME``,
``PINNACE_IMAGES``, ``PINNACE_POD_CIDR``, ``PINNACE_CNI_BRIDGE``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pinnace.node.agent.runtimes import RuntimeParts
from pinnace.node.oci.runtime import OCIRuntime

#: The pod CIDR of a node nobody gave one (a single node on the host's network).
DEFAULT_POD_CIDR = "10.244.0.0/24"


@dataclass(frozen=True, slots=True)
class OCIOptions:
    """The ``oci`` runtime's node options."""

    #: ``runc`` or ``crun`` (or a path to either); "" picks :func:`default_oci_runtime`.
    oci_runtime: str = ""
    #: The image store (default: ``<state_dir>/images``).
    images_root: str = ""
    #: The node's podCIDR ("" keeps the one a previous agent wrote, else :data:`DEFAULT_POD_CIDR`).
    pod_cidr: str = ""
    #: The node's CNI bridge.
    bridge: str = "cni0"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OCIOptions:
        """The options a launcher put in the environment."""
        return cls(
            oci_runtime=env.get("PINNACE_OCI_RUNTIME", ""),
            images_root=env.get("PINNACE_IMAGES", ""),
            pod_cidr=env.get("PINNACE_POD_CIDR", ""),
            bridge=env.get("PINNACE_CNI_BRIDGE", "cni0"),
        )

    def environment(self) -> dict[str, str]:
        """These options as the environment :meth:`from_env` reads."""
        return {"PINNACE_OCI_RUNTIME": self.oci_runtime, "PINNACE_IMAGES": self.images_root,
                "PINNACE_POD_CIDR": self.pod_cidr, "PINNACE_CNI_BRIDGE": self.bridge}  # fmt: skip


def default_oci_runtime() -> str:
    """crun when it is installed, else runc.

    Both run the same bundles; crun is a small C program where runc is a Go
    binary that re-executes itself (``runc init``) for every container, so a
    container start with crun costs about a third less CPU and half the wall
    time — most of what a pod start costs on a busy node.
    """
    return "crun" if shutil.which("crun") is not None else "runc"


def oci_parts(state_dir: Path, node_ip: str, options: OCIOptions | None = None) -> RuntimeParts:
    """The ``oci`` runtime on ``state_dir`` with the node's image service and pod network."""
    from pinnace.node.images.service import LocalImageService

    chosen = options or OCIOptions.from_env()
    oci_runtime = chosen.oci_runtime or default_oci_runtime()
    if shutil.which(oci_runtime) is None:
        raise ValueError(f"the OCI runtime {oci_runtime!r} is not installed (want runc or crun on the PATH)")
    images = LocalImageService(chosen.images_root or state_dir / "images")
    runtime = OCIRuntime(state_dir / "oci", images, oci_runtime=oci_runtime, host_ip=node_ip)
    if chosen.pod_cidr or runtime.cni is None:
        runtime.write_network(chosen.pod_cidr or DEFAULT_POD_CIDR, bridge=chosen.bridge)
    return RuntimeParts(runtime, images)
