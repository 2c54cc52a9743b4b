"""The ``oci`` runtime: pods as real OCI containers on runc or crun, networked by the real CNI plugins.

- :mod:`.runtime` — :class:`OCIRuntime`, the CRI RuntimeService: sandboxes
  (a network namespace per pod, CNI ADD/DEL, the pod's /etc files) and
  containers (a bundle per container, started under a shim);
- :mod:`.spec` — the OCI ``config.json`` from the image config and the pod's
  container spec (argv rules, env, user, mounts, namespaces, cgroup limits,
  capabilities, securityContext), as containerd's CRI plugin builds it;
- :mod:`.rootfs` — an overlay rootfs per container over the image's unpacked one;
- :mod:`.shim` — the per-container parent process (``runc create``/``start``,
  CRI log file, exit code and OOM, attach socket), which outlives the agent;
- :mod:`.launcher` — the process that forks the shims (a fork, not a new interpreter, per container);
- :mod:`.sessions` — exec (``runc exec``, a TTY through a console socket) and attach streams;
- :mod:`.netns` — named network namespaces and sockets opened inside them (port-forward);
- :mod:`.nsfiles` — namespaces kept by bind mounts, made in-process (no ``ip``/``unshare`` per pod);
- :mod:`.podns` — the pod's shared IPC and UTS namespaces and /dev/shm;
- :mod:`.masquerade` — the node's one masquerading rule set for its podCIDR (as flannel's);
- :mod:`.records` — the JSON records on disk a restarted agent adopts from;
- :mod:`.cgroups` — host cgroup layout checks and OOM kill counts (usage: :mod:`pinnace.node.cgroupstats`).

Needs root. The node agent selects it with ``--runtime oci`` and
``--oci-runtime runc|crun``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinnace.node.oci.runtime import ImageSource, OCIRuntime

__all__ = ["ImageSource", "OCIRuntime"]


def __getattr__(name: str) -> Any:
    """The runtime is imported on first use, so that the shim (``python -m pinnace.node.oci.shim``) starts light."""
    if name in __all__:
        from pinnace.node.oci import runtime

        return getattr(runtime, name)
    raise AttributeError(name)
