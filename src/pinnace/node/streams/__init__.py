"""The kubelet's streaming protocols: what ``kubectl logs``, ``exec``, ``attach`` and ``port-forward`` speak.

- :mod:`.channels` — the WebSocket channel protocols (``channel.k8s.io`` through
  ``v5.channel.k8s.io``, base64 variants), their framing and the error-channel Status;
- :mod:`.remotecommand` — one exec/attach session pumped over such a WebSocket;
- :mod:`.spdy` — SPDY/3.1 framing and a server connection (kubectl's port-forward,
  plain or tunnelled in a WebSocket);
- :mod:`.spdyexec` — exec/attach over SPDY (one stream per standard stream; older clients, kubectl's fallback);
- :mod:`.portforward` — port-forward over SPDY stream pairs or WebSocket channels;
- :mod:`.upgrade` — the byte transports under SPDY: a hijacked HTTP connection, a WebSocket's binary messages;
- :mod:`.logs` — CRI-format container log files read back with ``pods/log``'s options.

The kubelet API (:mod:`pinnace.node.server`) serves them; the API server only relays.
"""
