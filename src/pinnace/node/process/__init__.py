"""The ``process`` runtime: pod containers as host subprocesses (the default; no root needed).

- :mod:`.runtime` — :class:`ProcessRuntime`, the CRI-shaped RuntimeService
  (:mod:`pinnace.node.cri`): sandboxes as records, containers under shims,
  state on disk so a restarted agent adopts what runs;
- :mod:`.shim` — the per-container shim process (stdlib only, run by file path): parent of the
  container process, CRI log writer, exit recorder, exec/attach server; its parts are
  :mod:`.shim_host` (namespaces, process set-up), :mod:`.shim_io` (processes and output) and
  :mod:`.shim_sessions` (exec and attach);
- :mod:`.streams` — the client side of the shim's exec/attach socket;
- :mod:`.cgroups` — as root, a cgroup per container, with its resource limits (OOMKilled reported);
- :mod:`.usage` — a container's CPU and memory use (CRI ContainerStats), from its cgroup or its process tree.
"""

from pinnace.node.process.runtime import ProcessRuntime

__all__ = ["ProcessRuntime"]
