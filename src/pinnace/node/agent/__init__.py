"""The node agent (the kubelet part): registration, heartbeats, the pod sync loop, volumes, env, termination.

- :mod:`.agent` — :class:`NodeAgent`, which wires the rest together and runs it;
- :mod:`.registration` — the Node, its Lease and its status; :mod:`.host` — what the host measures;
- :mod:`.pods` — converging one pod on a runtime, and terminating it gracefully;
- :mod:`.status` — the pod status the runtime's state implies (plain functions);
- :mod:`.volumes` — emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes;
- :mod:`.env` — env, envFrom, valueFrom and ``$(VAR)`` expansion;
- :mod:`.backoff` — CrashLoopBackOff; :mod:`.probes` — the seam a probe manager plugs into;
- :mod:`.runtimes` — the runtime registry (``process``, ``oci``, …) by name.

The agent talks to the API only through :mod:`pinnace.client` and
:mod:`pinnace.runtime`, and to containers only through :mod:`pinnace.node.cri`.
"""

from pinnace.node.agent.agent import AgentConfig, NodeAgent

__all__ = ["AgentConfig", "NodeAgent"]
