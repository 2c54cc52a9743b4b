"""NodeRestriction: a kubelet may write only its own Node, its own Lease and what concerns its own pods.

Upstream's ``NodeRestriction`` admission plugin (kubeadm enables it), for
requests of a node — user ``system:node:<name>`` in group ``system:nodes``;
everyone else passes untouched. It complements the Node authorizer, which
decides by resource and name, by looking at what is written:

- **nodes**: only its own (``node "a" is not allowed to modify node "b"``);
  at create no ``configSource`` and no labels outside the kubelet's allowed set
  (:func:`forbidden_labels`: ``node-restriction.kubernetes.io/`` never, other
  ``kubernetes.io``/``k8s.io`` labels only the well-known ones and the
  ``kubelet.kubernetes.io``/``node.kubernetes.io`` prefixes); at update no
  change of taints, of ``configSource``, or of a label outside that set.
- **pods**: create only mirror pods bound to itself, owned (controller, no
  blockOwnerDeletion) by its Node, referencing no service account, secret,
  configmap, claim or cluster trust bundle; delete only its own pods;
  ``pods/status`` only of its own pods and without changing labels or resource
  claim statuses; ``pods/eviction`` only of its own pods; any other pod
  write or subresource is refused.
- **serviceaccounts/token**: only tokens bound to a pod (with its uid) that
  runs on this node.
- **leases**: only in ``kube-node-lease``, only the one named after the node.
- **persistentvolumeclaims**: only ``status``, and there only capacity,
  conditions and the allocated resources may change.
- **csinodes** (storage.k8s.io): only the one named after the node.

Denials are 403s worded as upstream's (``admission.NewForbidden``:
``<resource> "<name>" is forbidden: <reason>``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import object_named
from pinnace.apiserver.authz.node import NODE_PREFIX, NODES_GROUP, pod_references

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer
    from pinnace.apiserver.user import UserInfo

__all__ = ["NodeRestriction", "forbidden_labels", "node_identity"]

Obj = dict[str, Any]

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
NODE_LEASE_NAMESPACE = "kube-node-lease"
#: Labels a kubelet may set on its Node although they are kubernetes.io labels (upstream's kubeletLabels).
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
#: Label prefixes (and their subdomains) a kubelet may use freely.
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
NODE_RESTRICTION_NAMESPACE = "node-restriction.kubernetes.io"


def node_identity(user: UserInfo | None) -> tuple[str, bool]:
    """(node name, whether the user is a node) as upstream's NodeIdentifier: ``system:node:<name>`` in
    ``system:nodes``; the name may be empty for a malformed node user."""
    if user is None or not user.name.startswith(NODE_PREFIX) or NODES_GROUP not in user.groups:
        return "", False
    return user.name[len(NODE_PREFIX) :], True


def _label_namespace(label: str) -> str:
    prefix, slash, _ = label.partition("/")
    return prefix if slash else ""


def _in(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def _is_kubelet_label(label: str) -> bool:
    return label in KUBELET_LABELS or any(_in(_label_namespace(label), ns) for ns in KUBELET_LABEL_NAMESPACES)


def forbidden_labels(labels: dict[str, str], old: dict[str, str] | None = None) -> list[str]:
    """The labels added, changed or removed (``old`` → ``labels``) that a kubelet may not touch, sorted."""
    old = old or {}
    modified = {k for k, v in labels.items() if old.get(k) != v} | {k for k in old if k not in labels}
    bad = set()
    for label in modified:
        namespace = _label_namespace(label)
        if _in(namespace, NODE_RESTRICTION_NAMESPACE):
            bad.add(label)
        if (_in(namespace, "kubernetes.io") or _in(namespace, "k8s.io")) and not _is_kubelet_label(label):
            bad.add(label)
    return sorted(bad)


def _meta(obj: Obj | None) -> Obj:
    return (obj or {}).get("metadata") or {}


def _spec(obj: Obj | None) -> Obj:
    return (obj or {}).get("spec") or {}


class NodeRestriction:
    """The NodeRestriction admission plugin (mutating phase, after ServiceAccount; changes nothing)."""

    name = "NodeRestriction"
    mutates = False  # it refuses, never changes (upstream runs it in the mutating phase all the same)

    def __init__(self, rest: RestStore) -> None:
        """Pods and Nodes the checks need are read through ``rest`` (watch cache first)."""
        self.rest = rest

    @classmethod
    def for_server(cls, server: APIServer) -> NodeRestriction:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Writes made by a node."""
        return node_identity(request.user)[1]

    async def admit(self, request: AdmissionRequest) -> None:
        """Refuse what the node may not write (see the module docstring)."""
        node, _ = node_identity(request.user)
        if not node:
            user = request.user.name if request.user else ""
            raise forbidden(request, f'could not determine node from user "{user}"')
        group, plural = request.info.group, request.info.plural
        if group == "" and plural == "pods":
            await self._pod(node, request)
        elif group == "" and plural == "nodes":
            self._node(node, request)
        elif group == "" and plural == "persistentvolumeclaims":
            self._pvc(node, request)
        elif group == "" and plural == "serviceaccounts":
            await self._token(node, request)
        elif group == "coordination.k8s.io" and plural == "leases":
            self._lease(node, request)
        elif group == "storage.k8s.io" and plural == "csinodes" and self._target_name(request) != node:
            raise forbidden(request, "can only access CSINode with the same name as the requesting node")

    @staticmethod
    def _target_name(request: AdmissionRequest) -> str:
        """The object's name (a create's is in the object)."""
        if request.operation is Operation.CREATE and request.obj is not None and not request.subresource:
            return str(_meta(request.obj).get("name") or "")
        return request.name

    # ---- pods -----------------------------------------------------------------------------------
    async def _pod(self, node: str, request: AdmissionRequest) -> None:
        sub, op = request.subresource, request.operation
        if sub == "":
            if op is Operation.CREATE:
                await self._mirror_pod(node, request)
            elif op is Operation.DELETE:
                if _spec(request.old).get("nodeName") != node:
                    raise forbidden(request, f'node "{node}" can only delete pods with spec.nodeName set to itself')
            else:
                raise forbidden(
                    request, f'unexpected operation "{op.value}", node "{node}" can only create and delete mirror pods'
                )
        elif sub == "status":
            if op is not Operation.UPDATE:
                raise forbidden(request, f'unexpected operation "{op.value}"')
            if _spec(request.old).get("nodeName") != node:
                raise forbidden(
                    request, f'node "{node}" can only update pod status for pods with spec.nodeName set to itself'
                )
            if (_meta(request.old).get("labels") or {}) != (_meta(request.obj).get("labels") or {}):
                raise forbidden(request, f'node "{node}" cannot update labels through pod status')
            claims = [((p or {}).get("status") or {}).get("resourceClaimStatuses") for p in (request.old, request.obj)]
            if (claims[0] or []) != (claims[1] or []):
                raise forbidden(request, f'node "{node}" cannot update resource claim statues')
        elif sub == "eviction":
            if op is not Operation.CREATE:
                raise forbidden(request, f"unexpected operation {op.value}")
            name = request.name or str(_meta(request.obj).get("name") or "")
            if not name:
                raise forbidden(request, "could not determine pod from request data")
            pod = await self._existing_pod(request.namespace, name)
            if _spec(pod).get("nodeName") != node:
                raise forbidden(request, f"node {node} can only evict pods with spec.nodeName set to itself")
        else:
            raise forbidden(request, f"unexpected pod subresource \"{sub}\", only 'status' and 'eviction' are allowed")

    async def _existing_pod(self, namespace: str, name: str) -> Obj:
        pod = await object_named(self.rest, "pods", namespace, name)
        if pod is None:
            raise errors.NotFound(f'pods "{name}" not found', kind="pods", name=name)
        return pod

    async def _mirror_pod(self, node: str, request: AdmissionRequest) -> None:
        pod = request.obj or {}
        meta, spec = _meta(pod), _spec(pod)
        if MIRROR_POD_ANNOTATION not in (meta.get("annotations") or {}):
            raise forbidden(
                request,
                f'pod does not have "{MIRROR_POD_ANNOTATION}" annotation, node "{node}" can only create mirror pods',
            )
        if spec.get("nodeName") != node:
            raise forbidden(request, f'node "{node}" can only create pods with spec.nodeName set to itself')
        owners = meta.get("ownerReferences") or []
        if len(owners) > 1:
            raise forbidden(request, f'node "{node}" can only create pods with a single owner reference set to itself')
        if not owners:
            raise forbidden(request, f'node "{node}" can only create pods with an owner reference set to itself')
        owner = owners[0]
        if owner.get("apiVersion") != "v1" or owner.get("kind") != "Node" or owner.get("name") != node:
            raise forbidden(request, f'node "{node}" can only create pods with an owner reference set to itself')
        if not owner.get("controller"):
            raise forbidden(
                request, f'node "{node}" can only create pods with a controller owner reference set to itself'
            )
        if owner.get("blockOwnerDeletion"):
            raise forbidden(request, f'node "{node}" must not set blockOwnerDeletion on an owner reference')
        node_obj = await object_named(self.rest, "nodes", None, node)
        if node_obj is None:
            raise errors.NotFound(f'nodes "{node}" not found', kind="nodes", name=node)
        if owner.get("uid") != _meta(node_obj).get("uid"):
            got = _meta(node_obj).get("uid")
            raise forbidden(request, f"node {node} UID mismatch: expected {owner.get('uid')} got {got}")
        self._references_nothing(node, request, pod)

    @staticmethod
    def _references_nothing(node: str, request: AdmissionRequest, pod: Obj) -> None:
        spec = _spec(pod)
        if spec.get("serviceAccountName"):
            raise forbidden(request, f'node "{node}" can not create pods that reference a service account')
        kinds = {resource for resource, _, _ in pod_references(pod)}
        for resource in ("secrets", "configmaps"):
            if resource in kinds:
                raise forbidden(request, f'node "{node}" can not create pods that reference {resource}')
        volumes = spec.get("volumes") or []
        for volume in volumes:
            if any("clusterTrustBundle" in s for s in (volume.get("projected") or {}).get("sources") or []):
                raise forbidden(request, f'node "{node}" can not create pods that reference clustertrustbundles')
        if any(v.get("persistentVolumeClaim") is not None for v in volumes):
            raise forbidden(request, f'node "{node}" can not create pods that reference persistentvolumeclaims')

    # ---- nodes ----------------------------------------------------------------------------------
    def _node(self, node: str, request: AdmissionRequest) -> None:
        wanted = self._target_name(request)
        if wanted != node:
            raise forbidden(request, f'node "{node}" is not allowed to modify node "{wanted}"')
        new, old = request.obj, request.old
        if request.operation is Operation.CREATE:
            if _spec(new).get("configSource") is not None:
                raise forbidden(request, f'node "{node}" is not allowed to create pods with a non-nil configSource')
            bad = forbidden_labels(_meta(new).get("labels") or {})
            if bad:
                raise forbidden(request, f'node "{node}" is not allowed to set the following labels: {", ".join(bad)}')
        elif request.operation is Operation.UPDATE:
            source = _spec(new).get("configSource")
            if source is not None and source != _spec(old).get("configSource"):
                raise forbidden(
                    request, f'node "{node}" is not allowed to update configSource to a new non-nil configSource'
                )
            if (_spec(new).get("taints") or []) != (_spec(old).get("taints") or []):
                raise forbidden(request, f'node "{node}" is not allowed to modify taints')
            bad = forbidden_labels(_meta(new).get("labels") or {}, _meta(old).get("labels") or {})
            if bad:
                raise forbidden(request, f"is not allowed to modify labels: {', '.join(bad)}")

    # ---- the rest -------------------------------------------------------------------------------
    @staticmethod
    def _pvc(node: str, request: AdmissionRequest) -> None:
        if request.subresource != "status":
            raise forbidden(request, "may only update PVC status")
        if request.operation is not Operation.UPDATE:
            raise forbidden(request, f'unexpected operation "{request.operation.value}"')

        def essence(pvc: Obj | None) -> Obj:
            out = copy.deepcopy(pvc or {})
            meta = out.setdefault("metadata", {})
            for key in ("resourceVersion", "managedFields"):
                meta.pop(key, None)
            status = out.setdefault("status", {})
            for key in ("capacity", "conditions", "allocatedResources", "allocatedResourceStatuses"):
                status.pop(key, None)
            return out

        old, new = essence(request.old), essence(request.obj)
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise forbidden(
                request,
                f'node "{node}" is not allowed to update fields other than status.quantity and status.conditions: '
                f"{', '.join(changed)} changed",
            )

    async def _token(self, node: str, request: AdmissionRequest) -> None:
        if request.operation is not Operation.CREATE or request.subresource != "token":
            return
        ref = _spec(request.obj).get("boundObjectRef") or {}
        if ref.get("apiVersion") != "v1" or ref.get("kind") != "Pod" or not ref.get("name"):
            raise forbidden(request, "node requested token not bound to a pod")
        if not ref.get("uid"):
            raise forbidden(request, "node requested token with a pod binding without a uid")
        pod = await self._existing_pod(request.namespace, str(ref["name"]))
        if ref["uid"] != _meta(pod).get("uid"):
            raise forbidden(
                request,
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                "The object might have been deleted and then recreated",
            )
        if _spec(pod).get("nodeName") != node:
            raise forbidden(request, "node requested token bound to a pod scheduled on a different node")

    def _lease(self, node: str, request: AdmissionRequest) -> None:
        if request.namespace != NODE_LEASE_NAMESPACE:
            raise forbidden(request, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
        if self._target_name(request) != node:
            raise forbidden(request, "can only access node lease with the same name as the requesting node")
