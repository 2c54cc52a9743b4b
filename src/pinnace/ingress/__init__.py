"""The Ingress controller: what ingress-nginx is to kind and Traefik to k3s, for ``networking.k8s.io/v1`` Ingresses.

It serves the Ingresses of its IngressClasses (``spec.controller: pinnace.dev/ingress``), routing HTTP and HTTPS
from the host to the ready endpoints of the Services they name, and reports its address in their
``status.loadBalancer``. The pieces, one job each:

- :mod:`.selection` — which Ingresses are the controller's (class name, default class, legacy annotation), oldest
  first (pure);
- :mod:`.backends` — an Ingress backend → a Service port → the ready endpoints of its EndpointSlices (pure);
- :mod:`.routes` — the routing table: hosts (exact, wildcard, none), paths (Exact, Prefix), default backends, TLS
  hosts; the match of one request (pure);
- :mod:`.proxy` — the HTTP reverse proxy (redirects, error pages, forwarding headers, streamed bodies);
- :mod:`.websocket` — WebSocket upgrades relayed message by message;
- :mod:`.tls` — the HTTPS listener's certificates, chosen by SNI, and the default self-signed one;
- :mod:`.status` — ``status.loadBalancer`` written on the Ingresses served, cleared on those no longer served;
- :mod:`.controller` — informers and the life cycle: :class:`IngressController`, :class:`IngressConfig`.
"""

from pinnace.ingress.controller import IngressConfig, IngressController

__all__ = ["IngressConfig", "IngressController"]
