"""Cluster DNS: what CoreDNS's ``kubernetes`` plugin is to a kubeadm cluster, for pods to find Services by name.

Names in the zone (``cluster.local`` by default) follow the Kubernetes
DNS-Based Service Discovery specification (schema 1.1.0): Service, endpoint,
SRV, PTR, pod (``pods insecure``) and ``dns-version`` records, served with a
5 s TTL, authoritatively, over UDP and TCP; other names go to the host's
resolvers. The pieces, one job each:

- :mod:`.records` — the index: Services, EndpointSlices, Namespaces → what each name holds (pure);
- :mod:`.answer` — a DNS message and the index → reply, forward or drop; size limits (pure);
- :mod:`.forward` — upstream resolvers over UDP, TCP on truncation;
- :mod:`.transport` — the UDP and TCP listeners;
- :mod:`.server` — informers and the life cycle: :class:`ClusterDNS`, :class:`DNSConfig`.
"""

from pinnace.dns.server import ClusterDNS, DNSConfig

__all__ = ["ClusterDNS", "DNSConfig"]
