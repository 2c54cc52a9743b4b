"""Nodes: what runs pods, or pretends to.

- :mod:`.simulated` — simulated nodes (the kwok idea): many Nodes, their
  heartbeats and their pods' statuses, kept up by one loop in a manager, so
  that controllers and the scheduler can be exercised at scale without
  running anything (``pinnace up --sim-nodes N``);
- :mod:`.simstatus` — the objects a simulated kubelet writes (Node, Lease,
  pod statuses), as plain functions.

The real node agent: :mod:`.agent` (registration, heartbeats, the pod sync
loop, volumes, env, termination; ``pinnace node``) drives a runtime through
:mod:`.cri` — :mod:`.process` (host subprocesses under shims, the default) or
:mod:`.oci` — with :mod:`.server` (the kubelet API, over HTTPS with
:mod:`.kubeletcert`'s self-signed certificate, every caller checked by
:mod:`.kubeletauth`), :mod:`.streams` and :mod:`.probes` beside it. The kubelet API's stats —
:mod:`.kubeletstats` (``/stats/summary``) and :mod:`.resourcemetrics` (``/metrics/resource``) — read each
container's usage through the runtime, from its cgroup (:mod:`.cgroupstats`) or its process tree. Everything
here talks to the API through :mod:`pinnace.client` and :mod:`pinnace.runtime` only, so it runs against any
conformant cluster.
"""
