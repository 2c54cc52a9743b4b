"""The scheduler: filter → score → bind, on the runtime's informers (kube-scheduler's design).

How the pieces fit, from the bottom:

- :mod:`.types` — :class:`PodInfo` and :class:`NodeInfo`: a pod's requests,
  tolerations and affinity terms parsed once; a node's allocatable resources,
  taints and the pods placed on it, summed incrementally;
- :mod:`.state` — :class:`ClusterState`, the scheduler cache: nodes, placed
  (bound or *assumed*) pods, and per-topology-domain counters that make
  inter-pod affinity and topology spread lookups instead of scans;
- :mod:`.filters` and :mod:`.scores` — upstream's default filter and score
  plugins, with upstream's messages and weights;
- :mod:`.volumes` — VolumeBinding's decisions: which nodes a pod's
  PersistentVolumeClaims allow, from the claims, volumes and StorageClasses
  the scheduler watches; :mod:`.volumebinder` — prebinding a volume or asking
  for one to be provisioned on the chosen node, and waiting for the claims to
  be bound before the pod is;
- :mod:`.framework` — one decision: sample nodes (percentageOfNodesToScore),
  filter, score, select; "0/N nodes are available: …" when none fits;
- :mod:`.preemption` — evict lower-priority pods to make room;
- :mod:`.queue` — active, backoff and unschedulable queues, requeued on
  cluster events;
- :mod:`.scheduler` — the manager runnable that wires informers, queue and
  framework, binds through ``pods/binding`` and reports through events and
  the PodScheduled condition. :func:`add_scheduler` is the registry's entry.
"""

from pinnace.scheduler.scheduler import DEFAULT_SCHEDULER_NAME, Scheduler, add_scheduler

__all__ = ["DEFAULT_SCHEDULER_NAME", "Scheduler", "add_scheduler"]
