"""The resource table: every served resource, derived from the v1.32 definitions.

Each built-in kind with ``x-kubernetes-group-version-kind`` and ``metadata`` in
its definition becomes a :class:`ResourceInfo` (plural, scope, verbs,
subresources, short names, categories, storage key prefix). The schemas do not
say everything a server needs, so a small overlay of upstream facts fills the
rest: which kinds are cluster-scoped, short names and categories, which kinds
track ``metadata.generation``, and which are virtual (not stored). Discovery,
routing, the generic REST store and table printing all read this one table.
CustomResourceDefinitions add and remove entries at run time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pinnace.api import definitions

STANDARD_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


#: Versions of v1.32 that kube-apiserver serves by default: GA only (alpha and
#: beta APIs introduced after 1.24 are off by default upstream).
def _served_by_default(version: str) -> bool:
    return "alpha" not in version and "beta" not in version


#: Kinds upstream serves at cluster scope.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("authentication.k8s.io", "TokenReview"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceSlice"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
    }
)

#: The virtual kinds that are resources of their own (create-only reviews), served by dedicated handlers and
#: listed in discovery once a handler is installed (see :meth:`ResourceRegistry.add_virtual`).
REVIEW_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("authentication.k8s.io", "TokenReview"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authorization.k8s.io", "LocalSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
    }
)

#: Kinds a dedicated handler serves as a resource of their own, listed in discovery but not stored: the
#: reviews (creates answered at once) and ComponentStatus (reads that probe the control plane).
HANDLED_KINDS: frozenset[tuple[str, str]] = REVIEW_KINDS | {("", "ComponentStatus")}

#: Kinds that are only request/response bodies or subresources, not stored
#: collections; they are served by dedicated handlers.
VIRTUAL_KINDS: frozenset[tuple[str, str]] = (
    frozenset(
        {
            ("", "ComponentStatus"),
            ("", "Status"),
            ("autoscaling", "Scale"),
            ("policy", "Eviction"),
            ("authentication.k8s.io", "TokenRequest"),
        }
    )
    | REVIEW_KINDS
)


#: Built-in versions stored at another version of their group (upstream's storage version), converted on
#: every read and write: an autoscaling/v1 HPA is stored as the autoscaling/v2 one it also is.
STORED_AT_VERSION: dict[tuple[str, str, str], str] = {("autoscaling", "v1", "HorizontalPodAutoscaler"): "v2"}

#: Resources stored with another group's resource of the same plural (upstream's cohabiting
#: resources): events.k8s.io Events live with the core ones, so each API reads the other's writes.
STORED_WITH: dict[tuple[str, str], str] = {("events.k8s.io", "Event"): ""}

#: Upstream short names.
SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "ComponentStatus"): ("cs",),
    ("", "ConfigMap"): ("cm",),
    ("", "Endpoints"): ("ep",),
    ("", "Event"): ("ev",),
    ("", "LimitRange"): ("limits",),
    ("", "Namespace"): ("ns",),
    ("", "Node"): ("no",),
    ("", "PersistentVolumeClaim"): ("pvc",),
    ("", "PersistentVolume"): ("pv",),
    ("", "Pod"): ("po",),
    ("", "ReplicationController"): ("rc",),
    ("", "ResourceQuota"): ("quota",),
    ("", "ServiceAccount"): ("sa",),
    ("", "Service"): ("svc",),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ("crd", "crds"),
    ("apps", "DaemonSet"): ("ds",),
    ("apps", "Deployment"): ("deploy",),
    ("apps", "ReplicaSet"): ("rs",),
    ("apps", "StatefulSet"): ("sts",),
    ("autoscaling", "HorizontalPodAutoscaler"): ("hpa",),
    ("batch", "CronJob"): ("cj",),
    ("certificates.k8s.io", "CertificateSigningRequest"): ("csr",),
    ("events.k8s.io", "Event"): ("ev",),
    ("networking.k8s.io", "Ingress"): ("ing",),
    ("networking.k8s.io", "NetworkPolicy"): ("netpol",),
    ("policy", "PodDisruptionBudget"): ("pdb",),
    ("scheduling.k8s.io", "PriorityClass"): ("pc",),
    ("storage.k8s.io", "StorageClass"): ("sc",),
}

#: Upstream categories (``kubectl get all`` expands "all").
CATEGORIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("all",),
    ("", "ReplicationController"): ("all",),
    ("", "Service"): ("all",),
    ("apps", "DaemonSet"): ("all",),
    ("apps", "Deployment"): ("all",),
    ("apps", "ReplicaSet"): ("all",),
    ("apps", "StatefulSet"): ("all",),
    ("autoscaling", "HorizontalPodAutoscaler"): ("all",),
    ("batch", "CronJob"): ("all",),
    ("batch", "Job"): ("all",),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ("api-extensions",),
    ("apiregistration.k8s.io", "APIService"): ("api-extensions",),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): ("api-extensions",),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): ("api-extensions",),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): ("api-extensions",),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): ("api-extensions",),
}

#: Kinds whose strategy tracks ``metadata.generation`` (bumped on spec changes).
GENERATION_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "ReplicationController"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    }
)

#: Kinds whose DELETE answers the deleted object rather than a Status (upstream's stores with
#: ``ReturnDeletedObject``; their OpenAPI delete operation answers the kind, so typed clients expect it).
RETURNS_DELETED_OBJECT: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Pod"),
        ("", "Service"),
        ("", "PodTemplate"),
        ("", "ServiceAccount"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "ResourceQuota"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
    }
)

#: Kinds an update may create if absent (upstream ``AllowCreateOnUpdate``).
CREATE_ON_UPDATE: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Node"),
        ("", "Event"),
        ("", "Endpoints"),
        ("coordination.k8s.io", "Lease"),
        ("events.k8s.io", "Event"),
    }
)

#: Kinds whose name must be a DNS-1123 label, or a path segment, not a subdomain.
NAME_RULES: dict[tuple[str, str], str] = {
    ("", "Namespace"): "label",
    ("", "Service"): "label",
    ("rbac.authorization.k8s.io", "Role"): "path",
    ("rbac.authorization.k8s.io", "ClusterRole"): "path",
    ("rbac.authorization.k8s.io", "RoleBinding"): "path",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "path",
    ("apiregistration.k8s.io", "APIService"): "path",  # version.group, checked by its validation ("v1." too)
}

#: Subresources beyond ``status`` (which every kind with a status field has).
EXTRA_SUBRESOURCES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "ReplicationController"): ("scale",),
    ("apps", "Deployment"): ("scale",),
    ("apps", "ReplicaSet"): ("scale",),
    ("apps", "StatefulSet"): ("scale",),
    ("", "Namespace"): ("finalize",),
    ("", "Pod"): ("binding", "eviction", "ephemeralcontainers"),
    ("", "ServiceAccount"): ("token",),
    ("certificates.k8s.io", "CertificateSigningRequest"): ("approval",),
}

#: Subresources served by relaying to a kubelet (connect-style: streams, not stored objects), with their verbs as
#: upstream's discovery lists them. They are routed by the API server's subresource handlers, not the REST store.
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
_POD_STREAMS: dict[str, tuple[str, ...]] = {
    "attach": ("create", "get"),
    "exec": ("create", "get"),
    "log": ("get",),
    "portforward": ("create", "get"),
}
CONNECT_SUBRESOURCES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("", "Node"): {"proxy": _PROXY_VERBS},
    ("", "Pod"): {**_POD_STREAMS, "proxy": _PROXY_VERBS},
    ("", "Service"): {"proxy": _PROXY_VERBS},
}

#: The kind a subresource takes and answers when it is not its resource's own (discovery's responseKind; the kind
#: an admission review names for it). kubectl drain looks for pods/eviction's.
SUBRESOURCE_KINDS: dict[str, dict[str, str]] = {
    "scale": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
    "binding": {"group": "", "version": "v1", "kind": "Binding"},
    "eviction": {"group": "policy", "version": "v1", "kind": "Eviction"},
    "token": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"},
    "exec": {"group": "", "version": "v1", "kind": "PodExecOptions"},
    "attach": {"group": "", "version": "v1", "kind": "PodAttachOptions"},
    "portforward": {"group": "", "version": "v1", "kind": "PodPortForwardOptions"},
}
#: The options kind of each resource's ``proxy`` subresource (the one subresource name whose kind varies).
PROXY_KINDS: dict[str, dict[str, str]] = {
    kind: {"group": "", "version": "v1", "kind": f"{kind}ProxyOptions"} for kind in ("Node", "Pod", "Service")
}


def subresource_kind(info: ResourceInfo, subresource: str) -> dict[str, str] | None:
    """The kind ``subresource`` of ``info`` takes and answers when it is not the resource's own (None then)."""
    if subresource == "proxy" and not info.group:
        return PROXY_KINDS.get(info.kind)
    return SUBRESOURCE_KINDS.get(subresource)


#: The verbs each subresource serves (the handler refuses others with 405; discovery lists them).
SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "finalize": ("update",),
    "approval": ("get", "patch", "update"),
    "ephemeralcontainers": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "token": ("create",),
}

#: Kinds whose verbs differ from the standard eight.
VERBS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Namespace"): ("create", "delete", "get", "list", "patch", "update", "watch"),
    ("", "Binding"): ("create",),  # the legacy way to bind a pod (pods/binding's older twin)
    **{gk: ("create",) for gk in REVIEW_KINDS},
    ("", "ComponentStatus"): ("get", "list"),
}


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """Everything the server needs to know to serve one resource at one version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...] = STANDARD_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    definition: str = ""
    tracks_generation: bool = False
    returns_deleted_object: bool = False
    create_on_update: bool = False
    name_rule: str = "subdomain"
    custom: bool = False
    storage_version: str = ""
    #: The group whose storage holds the objects (None: the resource's own; see :data:`STORED_WITH`).
    storage_group: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    #: ``group/version``, or just ``version`` for the core group (derived; every response names it).
    api_version: str = field(init=False, compare=False, hash=False, repr=False, default="")
    #: The store key prefix of every object of the resource, all namespaces (derived; every read and write
    #: looks it up, several times).
    storage_prefix: str = field(init=False, compare=False, hash=False, repr=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_version", f"{self.group}/{self.version}" if self.group else self.version)
        group = self.group if self.storage_group is None else self.storage_group
        object.__setattr__(self, "storage_prefix", f"/registry/{group or 'core'}/{self.plural}/")

    @property
    def group_resource(self) -> str:
        """``plural.group`` as upstream spells it in messages (``deployments.apps``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        """The kind of a list of this resource."""
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        """Whether the resource has a ``status`` subresource."""
        return "status" in self.subresources

    def key(self, namespace: str | None, name: str) -> str:
        """The store key of one object."""
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def prefix(self, namespace: str | None) -> str:
        """The store prefix of a list: one namespace, or the whole resource."""
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix


def pluralize(kind: str) -> str:
    """The resource name of a kind, by upstream's (gengo's) pluralisation rules."""
    lower = kind.lower()
    if lower == "endpoints":
        return lower
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def _builtin_infos(*, handled: bool = False) -> Iterator[ResourceInfo]:
    """The stored built-in resources, or (``handled``) those of :data:`HANDLED_KINDS`."""
    for name, schema in definitions.load_definitions().items():
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        props = schema.get("properties") or {}
        if len(gvks) != 1 or "metadata" not in props or name.endswith("List"):
            continue
        gvk = gvks[0]
        group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
        gk = (group, kind)
        wanted = gk in HANDLED_KINDS if handled else gk not in VIRTUAL_KINDS
        if not wanted or not _served_by_default(version):
            continue
        subresources = () if handled else (("status",) if "status" in props else ()) + EXTRA_SUBRESOURCES.get(gk, ())
        yield ResourceInfo(
            group=group,
            version=version,
            kind=kind,
            plural=pluralize(kind),
            singular=kind.lower(),
            namespaced=gk not in CLUSTER_SCOPED,
            verbs=VERBS.get(gk, STANDARD_VERBS),
            short_names=SHORT_NAMES.get(gk, ()),
            categories=CATEGORIES.get(gk, ()),
            subresources=subresources,
            definition=name,
            tracks_generation=gk in GENERATION_KINDS,
            returns_deleted_object=gk in RETURNS_DELETED_OBJECT,
            create_on_update=gk in CREATE_ON_UPDATE,
            name_rule=NAME_RULES.get(gk, "subdomain"),
            storage_version=STORED_AT_VERSION.get((group, version, kind), version),
            storage_group=STORED_WITH.get(gk),
        )


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """One API group as discovery shows it: its versions, preferred first."""

    name: str
    versions: tuple[str, ...]

    @property
    def preferred_version(self) -> str:
        """The version clients should use."""
        return self.versions[0]


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key of Kubernetes versions: GA > beta > alpha, then by numbers (higher first)."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)


class ResourceRegistry:
    """The mutable table of served resources, indexed the ways callers look them up."""

    def __init__(self, infos: Iterable[ResourceInfo] = ()) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._by_gvk: dict[tuple[str, str, str], ResourceInfo] = {}
        #: Resources served by dedicated handlers only (reviews): in discovery and OpenAPI, never stored.
        self._virtual: dict[tuple[str, str, str], ResourceInfo] = {}
        self.generation = 0
        for info in infos:
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        """Serve a resource (replacing any with the same group/version/plural)."""
        self._by_gvr[(info.group, info.version, info.plural)] = info
        self._by_gvk[(info.group, info.version, info.kind)] = info
        self.generation += 1

    def add_virtual(self, info: ResourceInfo) -> None:
        """List a resource that a dedicated handler serves (a review) in the discovery views — groups(),
        in_group_version(), has_group_version() — without making it a stored resource (get() and all() skip it)."""
        self._virtual[(info.group, info.version, info.plural)] = info
        self.generation += 1

    def is_virtual(self, group: str, version: str, plural: str) -> bool:
        """Whether a dedicated handler serves the resource (a review: creates only)."""
        return (group, version, plural) in self._virtual

    def remove(self, group: str, version: str, plural: str) -> None:
        """Stop serving a resource."""
        info = self._by_gvr.pop((group, version, plural), None)
        if info is not None:
            self._by_gvk.pop((group, version, info.kind), None)
            self.generation += 1

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        """The resource served at ``/apis/group/version/plural``, if any."""
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        """The resource of a group/version/kind, if served."""
        return self._by_gvk.get((group, version, kind))

    def all(self) -> list[ResourceInfo]:
        """Every served resource."""
        return list(self._by_gvr.values())

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        """The resources of one group-version, sorted by plural."""
        return sorted(
            (i for (g, v, _), i in self._discoverable() if g == group and v == version),
            key=lambda i: i.plural,
        )

    def _discoverable(self) -> Iterator[tuple[tuple[str, str, str], ResourceInfo]]:
        yield from self._by_gvr.items()
        yield from self._virtual.items()

    def groups(self) -> list[GroupInfo]:
        """Every group with its versions (preferred first); the core group "" first."""
        versions: dict[str, set[str]] = {}
        for (g, v, _), _info in self._discoverable():
            versions.setdefault(g, set()).add(v)
        out = [GroupInfo(g, tuple(sorted(vs, key=version_priority))) for g, vs in versions.items()]
        return sorted(out, key=lambda gi: (gi.name != "", _GROUP_ORDER.get(gi.name, 100), gi.name))

    def has_group_version(self, group: str, version: str) -> bool:
        """Whether anything is served at the group-version."""
        return any(g == group and v == version for (g, v, _), _info in self._discoverable())


#: kube-apiserver lists its built-in groups in this order in discovery.
_GROUP_ORDER: dict[str, int] = {
    name: i
    for i, name in enumerate(
        [
            "",
            "apiregistration.k8s.io",
            "apps",
            "events.k8s.io",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "autoscaling",
            "batch",
            "certificates.k8s.io",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "storage.k8s.io",
            "admissionregistration.k8s.io",
            "apiextensions.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "node.k8s.io",
            "discovery.k8s.io",
            "flowcontrol.apiserver.k8s.io",
        ]
    )
}


@functools.cache
def builtin_infos() -> tuple[ResourceInfo, ...]:
    """Every built-in resource served by default in v1.32."""
    return tuple(_builtin_infos())


@functools.cache
def handled_infos() -> tuple[ResourceInfo, ...]:
    """The resources of :data:`HANDLED_KINDS`, at the versions served by default."""
    return tuple(_builtin_infos(handled=True))


def builtin_registry() -> ResourceRegistry:
    """A fresh registry holding the built-in resources."""
    return ResourceRegistry(builtin_infos())
