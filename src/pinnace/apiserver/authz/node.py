"""The Node authorizer: a kubelet may touch what its own pods need, and little else.

For users ``system:node:<name>`` in group ``system:nodes`` (anyone else gets no
opinion), after upstream's Node authorizer, deciding from the pods in the
server's watch cache (a pod → node index kept up to date from the cache's
events, instead of upstream's full object graph):

- secrets, configmaps and persistentvolumeclaims: ``get`` (and a single-object
  list/watch) of one referenced by a pod bound to the node (volumes, projected
  sources, env, envFrom, imagePullSecrets, ephemeral volume claims);
- serviceaccounts/token: ``create`` for an account a pod on the node runs as;
- pods: ``get`` of a pod bound to the node; pods/status and pods/eviction of one;
- its own Lease in kube-node-lease, and its own Node (and nodes/status) for
  writes; other nodes may only be read;
- everything else: the rules of upstream's ``system:node`` role.

Simplified against upstream: persistent volumes are allowed by the static rules
(no PVC → PV edges), resource claims and volume attachments likewise; list and
watch of pods are allowed without checking the ``spec.nodeName`` field selector
(the authorizer does not see selectors); NodeRestriction's checks of what a
node writes into its own objects are not done here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pinnace.apiserver.authz import policy
from pinnace.apiserver.authz.rules import Rule, allows, rules_from
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import Attributes, Decision, UserInfo
from pinnace.apiserver.watch_cache import Watcher

__all__ = ["NODES_GROUP", "NodeAuthorizer", "pod_references"]

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
LEASE_NAMESPACE = "kube-node-lease"

Obj = dict[str, Any]
#: (resource, namespace, name) of what a pod uses.
Ref = tuple[str, str, str]


def pod_references(pod: Obj) -> set[Ref]:
    """The secrets, configmaps, claims and service account a pod uses."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns, pod_name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    refs: set[Ref] = set()

    def add(resource: str, name: Any) -> None:
        if name:
            refs.add((resource, ns, str(name)))

    add("serviceaccounts", spec.get("serviceAccountName") or "default")
    for secret in spec.get("imagePullSecrets") or []:
        add("secrets", (secret or {}).get("name"))
    for volume in spec.get("volumes") or []:
        add("secrets", (volume.get("secret") or {}).get("secretName"))
        add("configmaps", (volume.get("configMap") or {}).get("name"))
        add("persistentvolumeclaims", (volume.get("persistentVolumeClaim") or {}).get("claimName"))
        if volume.get("ephemeral") is not None:
            add("persistentvolumeclaims", f"{pod_name}-{volume.get('name')}")
        for source in (volume.get("projected") or {}).get("sources") or []:
            add("secrets", (source.get("secret") or {}).get("name"))
            add("configmaps", (source.get("configMap") or {}).get("name"))
        for kind in ("csi", "cephfs", "rbd", "flexVolume", "iscsi", "scaleIO", "storageos", "azureFile"):
            plugin = volume.get(kind) or {}
            add("secrets", (plugin.get("nodePublishSecretRef") or plugin.get("secretRef") or {}).get("name"))
            add("secrets", plugin.get("secretName") if kind == "azureFile" else None)
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            for env in container.get("env") or []:
                source = env.get("valueFrom") or {}
                add("secrets", (source.get("secretKeyRef") or {}).get("name"))
                add("configmaps", (source.get("configMapKeyRef") or {}).get("name"))
            for env_from in container.get("envFrom") or []:
                add("secrets", (env_from.get("secretRef") or {}).get("name"))
                add("configmaps", (env_from.get("configMapRef") or {}).get("name"))
    return refs


class NodeAuthorizer:
    """Authorizes nodes from their pods; call :meth:`start` before use."""

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self.rules: tuple[Rule, ...] = next(
            rules_from(r) for r in policy.CLUSTER_ROLES if r["metadata"]["name"] == "system:node"
        )
        self._watcher: Watcher | None = None
        #: pod key → (node, references); node → {reference: count}; node → pod keys.
        self._pods: dict[str, tuple[str, set[Ref]]] = {}
        self._refs: dict[str, dict[Ref, int]] = defaultdict(lambda: defaultdict(int))
        self._bound: dict[str, set[tuple[str, str]]] = defaultdict(set)

    async def start(self) -> None:
        """Index the cached pods and follow their changes."""
        info = self.rest.registry.get("", "v1", "pods")
        assert info is not None
        cache = await self.rest.caches.get(info)
        self._watcher = cache.watch(None, None, after_revision=None)  # starts with every pod as ADDED

    def stop(self) -> None:
        """Stop following the pods."""
        if self._watcher is not None:
            self._watcher.terminate()
            self._watcher = None

    async def _catch_up(self) -> None:
        watcher = self._watcher
        if watcher is None:
            return
        if watcher.closed:  # the cache was reinitialised: index again from scratch
            self._pods.clear()
            self._refs.clear()
            self._bound.clear()
            await self.start()
            watcher = self._watcher
            assert watcher is not None
        for event in watcher.drain():
            obj = event.object
            self._forget(obj.key)
            if event.type != "DELETED":
                node = str((obj.obj.get("spec") or {}).get("nodeName") or "")
                if node:
                    refs = pod_references(obj.obj)
                    self._pods[obj.key] = (node, refs)
                    for ref in refs:
                        self._refs[node][ref] += 1
                    self._bound[node].add((obj.namespace, obj.name))

    def _forget(self, key: str) -> None:
        old = self._pods.pop(key, None)
        if old is None:
            return
        node, refs = old
        counts = self._refs[node]
        for ref in refs:
            counts[ref] -= 1
            if counts[ref] <= 0:
                del counts[ref]
        _, _, rest = key.rpartition("/pods/")
        namespace, _, name = rest.partition("/")
        self._bound[node].discard((namespace, name))

    def volatile(self, user: UserInfo) -> bool:
        """Whether decisions for ``user`` follow the pods (a node's): too changeable for a chain to remember."""
        return NODES_GROUP in user.groups and user.name.startswith(NODE_PREFIX)

    def authorize_cached(self, attributes: Attributes) -> tuple[Decision, str] | None:
        """:meth:`authorize`'s answer without awaiting; None when the pods followed must be caught up with first
        (never for users that are not nodes)."""
        user = attributes.user
        if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
            return Decision.NO_OPINION, ""
        node = user.name[len(NODE_PREFIX) :]
        if not node:
            return Decision.NO_OPINION, "unknown node"
        if not attributes.resource_request:
            return Decision.NO_OPINION, ""
        if self._watcher is not None and (self._watcher.pending or self._watcher.closed):
            return None
        return self._decide(node, attributes)

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """ALLOW what the node's pods need; NO_OPINION (with upstream's reason) for the rest."""
        decision = self.authorize_cached(attributes)
        if decision is None:
            await self._catch_up()
            decision = self._decide(attributes.user.name[len(NODE_PREFIX) :], attributes)
        return decision

    def _related(self, node: str, resource: str, namespace: str, name: str) -> tuple[Decision, str]:
        if (resource, namespace, name) in self._refs.get(node, {}):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _decide(self, node: str, a: Attributes) -> tuple[Decision, str]:
        resource, verb = a.resource, a.verb
        if a.api_group == "" and resource in ("secrets", "configmaps", "persistentvolumeclaims") and not a.subresource:
            if verb not in ("get", "list", "watch"):
                return Decision.NO_OPINION, "can only read resources of this type"
            if not a.name:
                return Decision.NO_OPINION, "can only read individual resources of this type"
            return self._related(node, resource, a.namespace, a.name)
        if a.api_group == "" and resource == "serviceaccounts" and a.subresource == "token":
            if verb != "create":
                return Decision.NO_OPINION, "can only create tokens for individual service accounts"
            return self._related(node, resource, a.namespace, a.name)
        if a.api_group == "" and resource == "pods":
            bound = (a.namespace, a.name) in self._bound.get(node, set())
            if not bound and (a.subresource in ("status", "eviction") or (not a.subresource and verb == "get")):
                return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"
        if (
            a.api_group == "coordination.k8s.io"
            and resource == "leases"
            and (a.namespace != LEASE_NAMESPACE or (verb != "create" and a.name != node))
        ):
            return Decision.NO_OPINION, "can only access node lease with the same name as the requesting node"
        if (
            a.api_group == ""
            and resource == "nodes"
            and verb not in ("get", "list", "watch", "create")
            and a.name != node
        ):
            return Decision.NO_OPINION, f"node '{node}' cannot modify node '{a.name}'"
        if any(allows(rule, a) for rule in self.rules):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""
