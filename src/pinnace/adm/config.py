"""kubeadm's configuration documents (``kubeadm.k8s.io/v1beta4``): types, defaults, loading, migration, images.

``pinnace adm init --config FILE`` reads a multi-document YAML file of an
``InitConfiguration`` (this node: bootstrap tokens, local API endpoint,
node registration, phases to skip) and a ``ClusterConfiguration`` (the
whole cluster: version, endpoint, networking, certificate SANs, image
repository); ``adm join`` has its ``JoinConfiguration``. The fields Pinnace
acts on are typed here; every other field is kept as it was given, so a
ClusterConfiguration round-trips through the ``kubeadm-config`` ConfigMap
unchanged. ``v1beta3`` documents are accepted and migrated as kubeadm
migrates them (``extraArgs`` maps become ``[{name, value}]`` lists, the
timeouts move to ``timeouts``). Documents print with sorted keys and
kubeadm's defaults, as ``kubeadm config print`` shows them.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from pinnace import KUBERNETES_VERSION
from pinnace.adm.tokens import DEFAULT_GROUP

__all__ = [
    "API_VERSION",
    "CLUSTER_CONFIGURATION",
    "INIT_CONFIGURATION",
    "JOIN_CONFIGURATION",
    "OLD_API_VERSION",
    "ClusterConfiguration",
    "ConfigError",
    "InitConfiguration",
    "control_plane_images",
    "dump_documents",
    "init_defaults",
    "join_defaults",
    "load_documents",
    "migrate_documents",
    "parse_config",
]

Obj = dict[str, Any]

API_VERSION = "kubeadm.k8s.io/v1beta4"
OLD_API_VERSION = "kubeadm.k8s.io/v1beta3"
INIT_CONFIGURATION = "InitConfiguration"
CLUSTER_CONFIGURATION = "ClusterConfiguration"
JOIN_CONFIGURATION = "JoinConfiguration"
_KINDS = (INIT_CONFIGURATION, CLUSTER_CONFIGURATION, JOIN_CONFIGURATION)
#: Component configurations kubeadm accepts in the same file; Pinnace has no kubelet or kube-proxy to give them to.
_COMPONENT_KINDS = ("KubeletConfiguration", "KubeProxyConfiguration")

#: kubeadm's example token in printed defaults (never a real one).
PLACEHOLDER_TOKEN = "abcdef.0123456789abcdef"
DEFAULT_SERVICE_SUBNET = "10.96.0.0/12"
DEFAULT_IMAGE_REPOSITORY = "registry.k8s.io"
#: The versions of the non-Kubernetes images kubeadm v1.32 deploys.
COREDNS_VERSION = "v1.11.3"
PAUSE_VERSION = "3.10"
ETCD_VERSION = "3.5.16-0"
#: kubeadm v1beta4's ``timeouts`` defaults.
DEFAULT_TIMEOUTS: dict[str, str] = {
    "controlPlaneComponentHealthCheck": "4m0s",
    "discovery": "5m0s",
    "etcdAPICall": "2m0s",
    "kubeletHealthCheck": "4m0s",
    "kubernetesAPICall": "1m0s",
    "tlsBootstrap": "5m0s",
    "upgradeManifests": "5m0s",
}
_CONTROL_PLANE_TAINT: Obj = {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}


class ConfigError(ValueError):
    """A configuration document kubeadm would refuse; the message says which and why."""


def _set(doc: Obj, value: Any, *path: str) -> None:
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


@dataclass
class ClusterConfiguration:
    """The cluster-wide configuration (kubeadm's ClusterConfiguration; other fields are kept in ``extra``)."""

    kubernetes_version: str = KUBERNETES_VERSION
    control_plane_endpoint: str = ""
    cluster_name: str = "kubernetes"
    pod_subnet: str = ""
    service_subnet: str = DEFAULT_SERVICE_SUBNET
    dns_domain: str = "cluster.local"
    image_repository: str = DEFAULT_IMAGE_REPOSITORY
    cert_sans: tuple[str, ...] = ()
    encryption_algorithm: str = "RSA-2048"
    certificates_dir: str = "/etc/kubernetes/pki"
    extra: Obj = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Obj) -> ClusterConfiguration:
        """The typed view of a (v1beta4) ClusterConfiguration document, defaults filled in."""
        defaults = cls()
        extra = copy.deepcopy(doc)
        for key in ("apiVersion", "kind", "kubernetesVersion", "controlPlaneEndpoint", "clusterName",
                    "imageRepository", "encryptionAlgorithm", "certificatesDir"):  # fmt: skip
            extra.pop(key, None)
        networking = extra.pop("networking", None) or {}
        api_server = dict(extra.pop("apiServer", None) or {})
        sans = tuple(str(s) for s in api_server.pop("certSANs", None) or ())
        if api_server:
            extra["apiServer"] = api_server
        version = str(doc.get("kubernetesVersion") or defaults.kubernetes_version)
        return cls(
            kubernetes_version=version if version.startswith("v") else "v" + version,
            control_plane_endpoint=str(doc.get("controlPlaneEndpoint") or ""),
            cluster_name=str(doc.get("clusterName") or defaults.cluster_name),
            pod_subnet=str(networking.get("podSubnet") or ""),
            service_subnet=str(networking.get("serviceSubnet") or defaults.service_subnet),
            dns_domain=str(networking.get("dnsDomain") or defaults.dns_domain),
            image_repository=str(doc.get("imageRepository") or defaults.image_repository),
            cert_sans=sans,
            encryption_algorithm=str(doc.get("encryptionAlgorithm") or defaults.encryption_algorithm),
            certificates_dir=str(doc.get("certificatesDir") or defaults.certificates_dir),
            extra=extra,
        )

    def to_document(self) -> Obj:
        """The document kubeadm would print for this configuration (v1beta4, defaults included)."""
        doc: Obj = {
            "apiServer": {},
            "caCertificateValidityPeriod": "87600h0m0s",
            "certificateValidityPeriod": "8760h0m0s",
            "controllerManager": {},
            "dns": {},
            "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
            "proxy": {},
            "scheduler": {},
        }
        doc.update(copy.deepcopy(self.extra))
        networking: Obj = {"dnsDomain": self.dns_domain, "serviceSubnet": self.service_subnet}
        if self.pod_subnet:
            networking["podSubnet"] = self.pod_subnet
        doc.update(
            apiVersion=API_VERSION,
            kind=CLUSTER_CONFIGURATION,
            kubernetesVersion=self.kubernetes_version,
            clusterName=self.cluster_name,
            imageRepository=self.image_repository,
            encryptionAlgorithm=self.encryption_algorithm,
            certificatesDir=self.certificates_dir,
            networking=networking,
        )
        if self.control_plane_endpoint:
            doc["controlPlaneEndpoint"] = self.control_plane_endpoint
        if self.cert_sans:
            doc["apiServer"] = {**doc["apiServer"], "certSANs": list(self.cert_sans)}
        return doc


def _default_token() -> Obj:
    return {"groups": [DEFAULT_GROUP], "ttl": "24h0m0s", "usages": ["signing", "authentication"]}


@dataclass
class InitConfiguration:
    """This control-plane node's part of ``init`` (kubeadm's InitConfiguration; other fields in ``extra``)."""

    #: ``bootstrapTokens``: each ``{token?, ttl, usages, groups, description?}``; kubeadm's default-node-token.
    bootstrap_tokens: list[Obj] = field(default_factory=lambda: [_default_token()])
    advertise_address: str = ""
    bind_port: int = 6443
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    #: None: kubeadm's default control-plane taint; [] for none.
    taints: list[Obj] | None = None
    skip_phases: tuple[str, ...] = ()
    certificate_key: str = ""
    extra: Obj = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Obj) -> InitConfiguration:
        """The typed view of a (v1beta4) InitConfiguration document, defaults filled in."""
        extra = copy.deepcopy(doc)
        for key in ("apiVersion", "kind", "bootstrapTokens", "localAPIEndpoint", "skipPhases", "certificateKey"):
            extra.pop(key, None)
        registration = dict(extra.pop("nodeRegistration", None) or {})
        name = registration.pop("name", None)
        taints = registration.pop("taints", None) if "taints" in registration else None
        if registration:
            extra["nodeRegistration"] = registration
        tokens = doc.get("bootstrapTokens")
        endpoint = doc.get("localAPIEndpoint") or {}
        defaults = cls()
        return cls(
            bootstrap_tokens=[dict(t) for t in tokens] if isinstance(tokens, list) else defaults.bootstrap_tokens,
            advertise_address=str(endpoint.get("advertiseAddress") or ""),
            bind_port=int(endpoint.get("bindPort") or defaults.bind_port),
            node_name=str(name or defaults.node_name),
            taints=list(taints) if isinstance(taints, list) else None,
            skip_phases=tuple(str(p) for p in doc.get("skipPhases") or ()),
            certificate_key=str(doc.get("certificateKey") or ""),
            extra=extra,
        )

    def control_plane_taints(self) -> list[Obj]:
        """The taints the control-plane node gets (kubeadm's NoSchedule one unless configured)."""
        return [dict(_CONTROL_PLANE_TAINT)] if self.taints is None else [dict(t) for t in self.taints]

    def to_document(self) -> Obj:
        """The document kubeadm would print for this configuration (v1beta4, defaults included)."""
        doc: Obj = {"timeouts": dict(DEFAULT_TIMEOUTS)}
        doc.update(copy.deepcopy(self.extra))
        registration: Obj = {
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "imagePullPolicy": "IfNotPresent",
            "imagePullSerial": True,
            **(doc.get("nodeRegistration") or {}),
            "name": self.node_name,
            "taints": self.taints,
        }
        doc.update(
            apiVersion=API_VERSION,
            kind=INIT_CONFIGURATION,
            bootstrapTokens=copy.deepcopy(self.bootstrap_tokens),
            localAPIEndpoint={"advertiseAddress": self.advertise_address, "bindPort": self.bind_port},
            nodeRegistration=registration,
        )
        if self.skip_phases:
            doc["skipPhases"] = list(self.skip_phases)
        if self.certificate_key:
            doc["certificateKey"] = self.certificate_key
        return doc


def init_defaults() -> list[Obj]:
    """``kubeadm config print init-defaults``: an InitConfiguration and a ClusterConfiguration."""
    init = InitConfiguration(node_name="node", advertise_address="1.2.3.4")
    init.bootstrap_tokens = [{**_default_token(), "token": PLACEHOLDER_TOKEN}]
    return [init.to_document(), ClusterConfiguration().to_document()]


def join_defaults() -> list[Obj]:
    """``kubeadm config print join-defaults``: a JoinConfiguration."""
    return [_default_join({})]


def _default_join(doc: Obj) -> Obj:
    out: Obj = {
        "caCertPath": "/etc/kubernetes/pki/ca.crt",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": "kube-apiserver:6443",
                "token": PLACEHOLDER_TOKEN,
                "unsafeSkipCAVerification": True,
            },
            "tlsBootstrapToken": PLACEHOLDER_TOKEN,
        },
        "nodeRegistration": {
            "criSocket": "unix:///var/run/containerd/containerd.sock",
            "imagePullPolicy": "IfNotPresent",
            "imagePullSerial": True,
            "name": "node",
            "taints": None,
        },
        "timeouts": dict(DEFAULT_TIMEOUTS),
    }
    merged = {**out, **copy.deepcopy(doc)}
    for key in ("nodeRegistration", "timeouts"):
        merged[key] = {**out[key], **(doc.get(key) or {})}
    out = merged
    out.update(apiVersion=API_VERSION, kind=JOIN_CONFIGURATION)
    return out


# ---- reading, migrating, writing ------------------------------------------------------------------------------------
def load_documents(text: str) -> list[Obj]:
    """The documents of a YAML file (ConfigError when it is not YAML mappings)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse the configuration: {exc}") from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise ConfigError(f"a configuration document must be a mapping, not {type(doc).__name__}")
    return docs


def _args_list(value: Any) -> Any:
    """v1beta3's ``extraArgs: {name: value}`` as v1beta4's ``[{name, value}]`` (sorted by name, as kubeadm)."""
    if isinstance(value, dict):
        return [{"name": str(k), "value": str(v)} for k, v in sorted(value.items())]
    return value


def _migrate_one(doc: Obj, timeouts: Obj) -> Obj:
    out = copy.deepcopy(doc)
    kind = out.get("kind")
    if kind == CLUSTER_CONFIGURATION:
        for component in ("apiServer", "controllerManager", "scheduler"):
            if isinstance(out.get(component), dict) and "extraArgs" in out[component]:
                out[component]["extraArgs"] = _args_list(out[component]["extraArgs"])
        api_server = out.get("apiServer")
        if isinstance(api_server, dict) and "timeoutForControlPlane" in api_server:
            timeouts["controlPlaneComponentHealthCheck"] = api_server.pop("timeoutForControlPlane")
        local = (out.get("etcd") or {}).get("local")
        if isinstance(local, dict) and "extraArgs" in local:
            local["extraArgs"] = _args_list(local["extraArgs"])
    else:
        registration = out.get("nodeRegistration")
        if isinstance(registration, dict) and "kubeletExtraArgs" in registration:
            registration["kubeletExtraArgs"] = _args_list(registration["kubeletExtraArgs"])
        discovery = out.get("discovery")
        if isinstance(discovery, dict) and "timeout" in discovery:
            _set(out, discovery.pop("timeout"), "timeouts", "discovery")
    out["apiVersion"] = API_VERSION
    return out


def _check_kind(doc: Obj) -> str:
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind in _COMPONENT_KINDS:
        return str(kind)
    if api_version not in (API_VERSION, OLD_API_VERSION):
        raise ConfigError(f'no kind "{kind}" is registered for version "{api_version}"')
    if kind not in _KINDS:
        raise ConfigError(f'no kind "{kind}" is registered for version "{api_version}"')
    return str(kind)


def migrate_documents(docs: Iterable[Obj]) -> list[Obj]:
    """Documents in v1beta4 with kubeadm's defaults (``kubeadm config migrate``); component configs untouched.

    An InitConfiguration without a ClusterConfiguration (or the other way round) gets the other, defaulted, as
    kubeadm's migrate prints both.
    """
    timeouts: Obj = {}
    migrated: list[Obj] = []
    for doc in docs:
        kind = _check_kind(doc)
        migrated.append(doc if kind in _COMPONENT_KINDS else _migrate_one(doc, timeouts))
    kinds = {d.get("kind") for d in migrated}
    out: list[Obj] = []
    if kinds & {INIT_CONFIGURATION, CLUSTER_CONFIGURATION}:
        init, cluster = parse_config(
            d for d in migrated if d.get("kind") in (INIT_CONFIGURATION, CLUSTER_CONFIGURATION)
        )
        init_doc = init.to_document()
        init_doc["timeouts"] = {**init_doc["timeouts"], **timeouts}
        out += [init_doc, cluster.to_document()]
    out += [_default_join(d) for d in migrated if d.get("kind") == JOIN_CONFIGURATION]
    out += [d for d in migrated if d.get("kind") in _COMPONENT_KINDS]
    return out


def parse_config(docs: Iterable[Obj]) -> tuple[InitConfiguration, ClusterConfiguration]:
    """The InitConfiguration and ClusterConfiguration of a config file's documents (v1beta3 ones migrated)."""
    init: InitConfiguration | None = None
    cluster: ClusterConfiguration | None = None
    for doc in docs:
        kind = _check_kind(doc)
        if doc.get("apiVersion") == OLD_API_VERSION:
            doc = _migrate_one(doc, {})
        if kind == INIT_CONFIGURATION:
            init = InitConfiguration.from_document(doc)
        elif kind == CLUSTER_CONFIGURATION:
            cluster = ClusterConfiguration.from_document(doc)
        elif kind == JOIN_CONFIGURATION:
            raise ConfigError("a JoinConfiguration is for `adm join`, not `adm init`")
    return init or InitConfiguration(), cluster or ClusterConfiguration()


def dump_documents(docs: Iterable[Obj]) -> str:
    """YAML documents separated by ``---``, keys sorted (as kubeadm prints them)."""
    return "---\n".join(yaml.safe_dump(d, sort_keys=True, default_flow_style=False) for d in docs)


def control_plane_images(cluster: ClusterConfiguration) -> list[str]:
    """The images a kubeadm control plane of this configuration runs (``kubeadm config images list``).

    Pinnace runs these components as its own processes, not from these images: the list says which references a
    kubeadm cluster of the same configuration would pull, and ``images pull`` fetches them into the node's store.
    """
    repo, version = cluster.image_repository.rstrip("/"), cluster.kubernetes_version
    images = [f"{repo}/{name}:{version}" for name in
              ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")]  # fmt: skip
    coredns = "coredns/coredns" if repo == DEFAULT_IMAGE_REPOSITORY else "coredns"
    images += [f"{repo}/{coredns}:{COREDNS_VERSION}", f"{repo}/pause:{PAUSE_VERSION}"]
    if "external" not in (cluster.extra.get("etcd") or {}):
        images.append(f"{repo}/etcd:{ETCD_VERSION}")
    return images
