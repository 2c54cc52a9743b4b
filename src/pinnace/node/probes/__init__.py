"""Liveness, readiness and startup probes (the kubelet's prober).

- :mod:`.handlers` — one attempt of each kind (exec, httpGet, tcpSocket, grpc), judged and worded as upstream;
- :mod:`.manager` — :class:`NodeProbes`, the workers with upstream's timing and thresholds, plugged into the
  node agent's seam (:mod:`pinnace.node.agent.probes`): results gate readiness, failures restart containers.
"""

from pinnace.node.probes.manager import NodeProbes, ProbeKind, ProbeSpec, ThresholdCounter

__all__ = ["NodeProbes", "ProbeKind", "ProbeSpec", "ThresholdCounter"]
