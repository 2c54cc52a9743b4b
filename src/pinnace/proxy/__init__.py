"""Service routing on a node: kube-proxy's iptables mode, run by each node agent.

A Service's ClusterIP, NodePort, external and load-balancer IPs reach its ready
endpoints through NAT rules in the node's network namespace (the node's own one
with the ``oci`` runtime on a multi-node host, the host's for ``process``
nodes). The pieces, one stage each:

- :mod:`.endpoints` — a Service's ports and its EndpointSlices' endpoints, and
  which of them traffic may use (pure);
- :mod:`.rules` — the ruleset in upstream's chains (KUBE-SERVICES, KUBE-SVC-*,
  KUBE-SEP-*, KUBE-NODEPORTS, KUBE-MARK-MASQ, KUBE-POSTROUTING, …) (pure);
- :mod:`.iptables` — ``iptables-save``/``iptables-restore`` (the I/O edge);
- :mod:`.stale` — which UDP conntrack entries a change leaves stale (pure), and
  :mod:`.conntrack` — ``conntrack -D`` to delete them (the I/O edge);
- :mod:`.proxier` — informers, rate-limited syncs, the per-namespace lock and
  cleanup: :class:`ServiceProxy`, and :func:`service_proxy` that the agent calls.

Cluster DNS is not here: Services are reached by IP.
"""

from pinnace.proxy.proxier import ServiceProxy, service_proxy
from pinnace.proxy.rules import Ruleset, render

__all__ = ["Ruleset", "ServiceProxy", "render", "service_proxy"]
