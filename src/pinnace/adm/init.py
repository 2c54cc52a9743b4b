"""``pinnace adm init``: kubeadm's init phases, over a data directory (Pinnace's /etc/kubernetes).

=====================  ===========================================================================
phase                  what it does here
=====================  ===========================================================================
preflight              refuses a data directory whose control plane runs or was set up, a busy port
certs                  the cluster PKI (:mod:`pinnace.adm.pki`); ``certs ca`` etc. one part alone
kubeconfig             admin/super-admin/controller-manager/scheduler ``.conf`` (:mod:`pinnace.adm.kubeconfigs`)
etcd                   with stacked etcd, starts this host's etcd member (:mod:`pinnace.cluster.stacked_etcd`)
control-plane          writes ``kubeadm.yaml`` (the configuration, Pinnace's static-pod manifests in one
                       file) and starts the control plane from it as ``pinnace up --detach`` would, with
                       this host's node agent, then waits until it is ready (kubeadm's wait-control-plane)
upload-config          ``kube-system/kubeadm-config`` holding the ClusterConfiguration, readable by nodes
upload-certs           with ``--upload-certs``, the shared keys encrypted in ``kubeadm-certs``
                       (:mod:`pinnace.adm.uploadcerts`), for ``join --control-plane``
mark-control-plane     the control-plane label and taints on this host's Node
bootstrap-token        the InitConfiguration's bootstrap tokens (cluster-info is published by the server)
show-join-command      the ``pinnace adm join`` line
=====================  ===========================================================================

Every phase after ``control-plane`` talks to the cluster through the client
with ``admin.conf``, never through the store, so it works against any
conformant API server. Running the phases one by one, in this order, gives
what ``init`` gives. The configuration is saved in ``DATA_DIR/kubeadm.yaml``
so a later phase (or ``upgrade``) run alone uses the same one.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.adm import kubeconfigs, pki, tokens
from pinnace.adm.config import (
    ClusterConfiguration,
    ConfigError,
    InitConfiguration,
    dump_documents,
    load_documents,
    parse_config,
)
from pinnace.adm.discovery import cluster_info
from pinnace.adm.kubeadmconfig import (
    CONFIGMAPS,
    KUBEADM_CONFIG,
    InitError,
    upload_config,
)
from pinnace.adm.uploadcerts import ENCRYPTION_CONFIG
from pinnace.api import errors
from pinnace.api.bootstraptoken import CLUSTER_INFO, BootstrapToken, generate_token
from pinnace.client.rest import ResourceRef, RestClient

if TYPE_CHECKING:  # the etcd client (gRPC, ~10 MB resident) loads only with stacked etcd, not in every pinnace up
    from pinnace.cluster.stacked_etcd import LocalEtcd

__all__ = [
    "CONFIG_FILE",
    "KUBEADM_CONFIG",
    "PHASES",
    "InitError",
    "InitPlan",
    "closing_text",
    "load_plan",
    "run_phase",
    "upload_config",
]

Obj = dict[str, Any]

#: The configuration init ran with, in the data directory.
CONFIG_FILE = "kubeadm.yaml"
ADMIN_CONF = "admin.conf"
#: init's phases, in order.
PHASES = (
    "preflight",
    "certs",
    "kubeconfig",
    "etcd",
    "control-plane",
    "upload-config",
    "upload-certs",
    "mark-control-plane",
    "bootstrap-token",
    "show-join-command",
)
CERT_PHASES = ("all", "ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client", "sa")
KUBECONFIG_PHASES = ("all", *(name.removesuffix(".conf") for name in kubeconfigs.KUBECONFIGS))
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

NODES = ResourceRef("", "v1", "nodes", namespaced=False)


@dataclass
class InitPlan:
    """What init is asked to do on this host: the two configuration documents and Pinnace's own options."""

    data_dir: Path
    init: InitConfiguration = field(default_factory=InitConfiguration)
    cluster: ClusterConfiguration = field(default_factory=ClusterConfiguration)
    #: Arguments for ``pinnace up`` that kubeadm has no field for (e.g. ``--runtime=oci``).
    up_args: tuple[str, ...] = ()
    ignore_preflight_errors: tuple[str, ...] = ()
    timeout: float = 60.0
    #: "stacked": a local etcd member keeps the objects (:mod:`pinnace.cluster.stacked_etcd`); "": the SQLite file.
    etcd: str = ""
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    #: ``--upload-certs``: the upload-certs phase stores the shared keys under ``init.certificate_key``.
    upload_certs: bool = False

    def __post_init__(self) -> None:
        if self.cluster.certificates_dir == "/etc/kubernetes/pki":  # kubeadm's default: here, the data directory's
            self.cluster.certificates_dir = str(self.data_dir / "pki")

    @property
    def host(self) -> str:
        """The address the API server listens on (the advertise address, loopback by default)."""
        return self.init.advertise_address or "127.0.0.1"

    @property
    def url(self) -> str:
        """The API server's URL on this host."""
        host = self.host
        return f"https://{'[' + host + ']' if ':' in host else host}:{self.init.bind_port}"

    @property
    def endpoint(self) -> str:
        """Where nodes reach the control plane: ``controlPlaneEndpoint`` if set, else this API server."""
        return self.cluster.control_plane_endpoint or self.url.removeprefix("https://")

    @property
    def stacked_etcd(self) -> bool:
        """Whether this control plane runs its own etcd member."""
        return self.etcd == "stacked"

    def local_etcd(self) -> LocalEtcd:
        """This host's etcd member (stacked etcd)."""
        from pinnace.cluster.stacked_etcd import LocalEtcd

        return LocalEtcd(self.data_dir, self.init.node_name, self.host, self.etcd_client_port, self.etcd_peer_port)

    @property
    def admin_conf(self) -> Path:
        """The admin kubeconfig the phases after control-plane use."""
        return self.data_dir / ADMIN_CONF

    def documents(self) -> list[Obj]:
        """The InitConfiguration and ClusterConfiguration, as saved in ``kubeadm.yaml``."""
        init = self.init.to_document()
        init["localAPIEndpoint"]["advertiseAddress"] = self.host
        # Token secrets are not kept on disk: they live in the cluster, as kubeadm keeps them.
        init["bootstrapTokens"] = [{k: v for k, v in t.items() if k != "token"} for t in init["bootstrapTokens"]]
        init["pinnace"] = {"upArgs": list(self.up_args)}  # kept apart from kubeadm's fields
        if self.stacked_etcd:
            init["pinnace"]["etcd"] = {"clientPort": self.etcd_client_port, "peerPort": self.etcd_peer_port}
        return [init, self.cluster.to_document()]

    def save(self) -> Path:
        """Write ``DATA_DIR/kubeadm.yaml``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / CONFIG_FILE
        path.write_text(dump_documents(self.documents()))
        path.chmod(0o600)
        return path


def load_plan(data_dir: Path) -> InitPlan | None:
    """The plan init saved in ``data_dir`` (None if init has not run its control-plane phase there)."""
    try:
        docs = load_documents((data_dir / CONFIG_FILE).read_text())
    except FileNotFoundError:
        return None
    up_args: tuple[str, ...] = ()
    etcd: dict[str, Any] | None = None
    for doc in docs:
        extra = doc.pop("pinnace", None)
        if isinstance(extra, dict):
            up_args = tuple(str(a) for a in extra.get("upArgs") or ())
            etcd = extra.get("etcd")
    init, cluster = parse_config(docs)
    plan = InitPlan(data_dir, init, cluster, up_args)
    if isinstance(etcd, dict):
        plan.etcd = "stacked"
        plan.etcd_client_port, plan.etcd_peer_port = int(etcd["clientPort"]), int(etcd["peerPort"])
    return plan


# ---- phases on this host -------------------------------------------------------------------------------------------
def port_problem(host: str, port: int) -> tuple[str, str] | None:
    """Why a server (API server, etcd member) could not listen on host:port, as a preflight check's name and text
    (None: it can)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return "AdvertiseAddress", f"{host} is not an address of this host"
            return f"Port-{port}", f"Port {port} is in use"
    return None


def preflight(plan: InitPlan) -> list[str]:
    """kubeadm's preflight errors for this host; raises InitError unless each is ignored. Returns the warnings."""
    from pinnace.cluster import daemon

    ignored = {e.lower() for e in plan.ignore_preflight_errors}
    problems: list[tuple[str, str]] = []
    running = daemon.read_pid_file(plan.data_dir)
    if running is not None:
        where = f"a control plane already runs from {plan.data_dir} (pid {running.pid})"
        problems.append(("ControlPlaneRunning", where))
    config = plan.data_dir / CONFIG_FILE
    if config.exists():
        problems.append((f"FileAvailable--{config}", f"{config} already exists"))
    ports = [plan.init.bind_port] if running is None else []
    if plan.stacked_etcd and (running is None or plan.local_etcd().running() is None):
        ports += [plan.etcd_client_port, plan.etcd_peer_port]  # kubeadm's Port-2379 and Port-2380 checks
    problems += [p for p in (port_problem(plan.host, port) for port in ports) if p is not None]
    errors_: list[str] = []
    warnings: list[str] = []
    for name, text in problems:
        line = f"[{'WARNING' if 'all' in ignored or name.lower() in ignored else 'ERROR'} {name}]: {text}"
        (warnings if line.startswith("[WARNING") else errors_).append(line)
    if errors_:
        raise InitError(
            "[preflight] Some fatal errors occurred:\n\t"
            + "\n\t".join(errors_)
            + "\n[preflight] If you know what you are doing, you can make a check non-fatal with "
            "`--ignore-preflight-errors=...`"
        )
    return warnings


def _extra_sans(plan: InitPlan) -> tuple[str, ...]:
    """The serving certificate's extra names: certSANs, the control-plane endpoint's host, the node and host names.

    ``pinnace up`` names this host in the certificate and init names the node: both go in, so neither renews it.
    """
    endpoint = plan.cluster.control_plane_endpoint
    endpoint_host = (endpoint.rpartition(":")[0] or endpoint).strip("[]")
    names = [*plan.cluster.cert_sans, endpoint_host, plan.init.node_name, socket.gethostname().lower()]
    return tuple(dict.fromkeys(n for n in names if n))


def pki_config(plan: InitPlan) -> pki.PKIConfig:
    return pki.PKIConfig(
        node_name=plan.init.node_name,
        advertise_address=plan.host,
        extra_sans=_extra_sans(plan),
        service_ip=str(next(ipaddress.ip_network(plan.cluster.service_subnet, strict=False).hosts())),
        dns_domain=plan.cluster.dns_domain,
        encryption_algorithm=plan.cluster.encryption_algorithm,
        etcd=plan.stacked_etcd,
    )


def certs(plan: InitPlan, which: str = "all") -> list[str]:
    """The certs phase (or one of its parts); the names of what is now in ``DATA_DIR/pki``.

    ``ca``, ``front-proxy-ca`` and ``sa`` make only that; a leaf certificate needs its CA and SANs, so the leaf
    parts run the whole phase, which keeps every certificate that is still good.
    """
    if which not in CERT_PHASES:
        raise InitError(f"unknown certs phase {which!r}; known: {', '.join(CERT_PHASES)}")
    pki_dir = plan.data_dir / "pki"
    algorithm = plan.cluster.encryption_algorithm
    if which == "ca":
        pki.ensure_ca(pki_dir, "ca", "kubernetes", algorithm)
        return ["ca"]
    if which == "front-proxy-ca":
        pki.ensure_ca(pki_dir, "front-proxy-ca", "front-proxy-ca", algorithm)
        return ["front-proxy-ca"]
    if which == "sa":
        pki.ensure_sa_key(pki_dir, legacy=plan.data_dir / "sa.key")
        return ["sa"]
    pki.create_pki(plan.data_dir, pki_config(plan))
    return [*pki.STANDARD_CERTS, "sa", *(pki.ETCD_CERTS if plan.stacked_etcd else ())]


def kubeconfig(plan: InitPlan, which: str = "all") -> list[Path]:
    """The kubeconfig phase (or one file of it) for the API server at the plan's URL; the files written."""
    if which not in KUBECONFIG_PHASES:
        raise InitError(f"unknown kubeconfig phase {which!r}; known: {', '.join(KUBECONFIG_PHASES)}")
    loaded = pki.load_pair(*_pki_paths(plan, "ca"))
    proxy = pki.load_pair(*_pki_paths(plan, "front-proxy-ca"))
    if loaded is None or proxy is None:
        raise InitError(f"no cluster CA in {plan.data_dir / 'pki'}: run the certs phase first")
    cluster_pki = pki.PKI(plan.data_dir / "pki", loaded, proxy)
    algorithm = plan.cluster.encryption_algorithm
    if which == "all":
        return list(kubeconfigs.create_kubeconfigs(plan.data_dir, cluster_pki, plan.url, algorithm).values())
    name = f"{which}.conf"
    path = plan.data_dir / name
    kubeconfigs.write_kubeconfig(path, cluster_pki, plan.url, kubeconfigs.KUBECONFIGS[name], algorithm=algorithm)
    return [path]


def _pki_paths(plan: InitPlan, name: str) -> tuple[Path, Path]:
    return plan.data_dir / "pki" / f"{name}.crt", plan.data_dir / "pki" / f"{name}.key"


def up_arguments(plan: InitPlan) -> list[str]:
    """The ``pinnace up`` options that run this plan's control plane (and this host's node agent)."""
    nodes_file = plan.data_dir / "kubeadm-nodes.yaml"
    nodes_file.write_text(f"nodes:\n- name: {plan.init.node_name}\n  role: worker\n")
    args = [f"--config={nodes_file}", f"--apiserver-cert-extra-sans={','.join(_extra_sans(plan))}"]
    if plan.cluster.control_plane_endpoint:
        args.append(f"--control-plane-endpoint={plan.cluster.control_plane_endpoint}")
    args.append(f"--service-cluster-ip-range={plan.cluster.service_subnet}")
    if plan.cluster.pod_subnet:
        args.append(f"--cluster-cidr={plan.cluster.pod_subnet}")
    if plan.stacked_etcd:
        args += plan.local_etcd().store_arguments()
        encryption = plan.data_dir / ENCRYPTION_CONFIG
        if encryption.exists():  # the same keys on every API server of the shared store
            args.append(f"--encryption-provider-config={encryption}")
    return [*args, *plan.up_args]


def etcd(
    plan: InitPlan,
    announce: Callable[[str], None] = print,
    *,
    initial_cluster: str = "",
    state: str = "new",
    learner_of: Sequence[str] = (),
) -> None:
    """The etcd phase: with stacked etcd, start this host's member (TLS, its CA from the certs phase) and wait.

    The EncryptionConfiguration the API servers on it share is made here too, unless one was given or downloaded
    (``pinnace up`` makes none for a shared store: each server would make its own key)."""
    if not plan.stacked_etcd:
        announce("[etcd] The store is this host's SQLite file (no stacked etcd): nothing to start")
        return
    local = plan.local_etcd()
    if not local.ca_file.exists():
        raise InitError(f"no etcd CA in {local.ca_file}: run the certs phase first")
    announce(f"[etcd] Starting the local etcd member {local.name} at {local.client_url} (data in "
             f"{plan.data_dir / 'etcd'})")  # fmt: skip
    from pinnace.cluster.encryption import config_path
    from pinnace.cluster.stacked_etcd import start_local

    config_path(plan.data_dir, None, shared_store=False)  # the data directory's, generated if missing
    try:
        pid = start_local(local, initial_cluster=initial_cluster, state=state, timeout=plan.timeout,
                          learner_of=learner_of)  # fmt: skip
    except (RuntimeError, OSError) as exc:
        raise InitError(f"[etcd] the local etcd member did not start: {exc}") from None
    announce(f"[etcd] The local etcd member is healthy (pid {pid})")


def control_plane(plan: InitPlan, announce: Callable[[str], None] = print) -> str:
    """Save the configuration and start the control plane detached (as ``pinnace up -d``); its URL once ready.

    With stacked etcd whose member was set up before but is not running, the member is started first."""
    from pinnace.cluster import daemon
    from pinnace.cluster.local import ClusterConfig

    plan.save()
    running = daemon.read_pid_file(plan.data_dir)
    if running is not None:
        announce(f"[control-plane] The control plane already runs (pid {running.pid}) at {running.url}")
        return running.url
    if plan.stacked_etcd and (plan.data_dir / "etcd").is_dir() and plan.local_etcd().running() is None:
        etcd(plan, announce)  # a restart (upgrade, reboot): the member under the API server first, from its data
    config = ClusterConfig(data_dir=plan.data_dir, host=plan.host, port=plan.init.bind_port)
    announce(f"[control-plane] Starting the control plane from {plan.data_dir / CONFIG_FILE}")
    announce(f"[wait-control-plane] Waiting for the API server to be ready. This can take up to {plan.timeout:.0f}s")
    started = time.monotonic()
    try:
        running = daemon.start_detached(config, merge_user=False, timeout=plan.timeout, extra_args=up_arguments(plan))
    except RuntimeError as exc:
        raise InitError(f"[wait-control-plane] {exc}") from None
    announce(f"[api-check] The API server is healthy after {time.monotonic() - started:.3f}s (pid {running.pid})")
    return running.url


# ---- phases through the API ----------------------------------------------------------------------------------------
def client(plan: InitPlan, kubeconfig_path: Path | None = None) -> RestClient:
    """A REST client with the admin kubeconfig (or the one given)."""
    from pinnace.client.config import load_client_config

    path = kubeconfig_path or plan.admin_conf
    if not path.exists():
        raise InitError(f"no kubeconfig at {path}: run the kubeconfig and control-plane phases first")
    return load_client_config(path).rest_client()


async def mark_control_plane(rest: RestClient, init: InitConfiguration, *, timeout: float = 30.0) -> Obj:
    """Label and taint this host's Node as a control-plane node, once its agent has registered it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            node = await rest.get(NODES, init.node_name)
            break
        except errors.NotFound:
            if time.monotonic() > deadline:
                raise InitError(f'[mark-control-plane] timed out waiting for the Node "{init.node_name}"') from None
            await asyncio.sleep(0.2)
    taints = list((node.get("spec") or {}).get("taints") or [])
    for taint in init.control_plane_taints():
        if not any(t.get("key") == taint.get("key") and t.get("effect") == taint.get("effect") for t in taints):
            taints.append(taint)
    patch = {
        "metadata": {"labels": {CONTROL_PLANE_LABEL: "", EXCLUDE_LB_LABEL: ""}},
        "spec": {"taints": taints or None},
    }
    return await rest.patch(NODES, init.node_name, patch)


async def bootstrap_tokens(rest: RestClient, init: InitConfiguration) -> list[BootstrapToken]:
    """Create the InitConfiguration's bootstrap tokens (a token already there is kept); the tokens."""
    made = []
    for spec in init.bootstrap_tokens:
        token = BootstrapToken.parse(
            str(spec.get("token") or generate_token()),
            description=str(spec.get("description") or ""),
            usages=tuple(spec.get("usages") or ("signing", "authentication")),
            groups=tuple(spec.get("groups") or (tokens.DEFAULT_GROUP,)),
        ).ttl(tokens.parse_duration(str(spec.get("ttl") or "24h0m0s")))
        try:
            await tokens.create_token(rest, token)
        except ValueError as exc:
            if "already exists" not in str(exc):
                raise InitError(f"[bootstrap-token] {exc}") from None
        spec["token"] = token.token
        made.append(token)
    return made


async def publish_endpoint(rest: RestClient, endpoint: str, ca_pem: bytes) -> Obj:
    """``kube-public/cluster-info`` naming ``endpoint`` (kubeadm's bootstrap-token phase writes the control-plane
    endpoint there, so joining nodes use it rather than this host's address); signatures are re-made by the
    bootstrap signer when the kubeconfig changes."""
    wanted = cluster_info("https://" + endpoint, ca_pem)
    try:
        current = await rest.get(CONFIGMAPS, CLUSTER_INFO, "kube-public")
    except errors.NotFound:
        return await rest.create(CONFIGMAPS, wanted, "kube-public")
    if (current.get("data") or {}).get("kubeconfig") == wanted["data"]["kubeconfig"]:
        return current
    current.setdefault("data", {})["kubeconfig"] = wanted["data"]["kubeconfig"]
    return await rest.update(CONFIGMAPS, current)


def publish_control_plane_endpoint(plan: InitPlan, announce: Callable[[str], None] = print) -> None:
    """Point cluster-info at ``controlPlaneEndpoint`` when one is configured (``pinnace up`` names its own URL)."""
    if not plan.cluster.control_plane_endpoint:
        return
    ca_pem = (plan.data_dir / "pki" / "ca.crt").read_bytes()
    asyncio.run(with_admin_client(plan, lambda rest: publish_endpoint(rest, plan.endpoint, ca_pem)))
    announce(f'[bootstrap-token] The "cluster-info" ConfigMap in "kube-public" names https://{plan.endpoint}')


def join_command(plan: InitPlan, token: str, *, control_plane: bool = False) -> str:
    """The ``pinnace adm join`` line for this cluster and token (the CA pinned by its hash); ``control_plane``: with
    ``--control-plane --certificate-key`` (the key upload-certs used)."""
    ca_pem = (plan.data_dir / "pki" / "ca.crt").read_bytes()
    return tokens.join_command(
        plan.endpoint, token, [tokens.ca_cert_hash(ca_pem)], control_plane=control_plane,
        certificate_key=plan.init.certificate_key or None,
    )  # fmt: skip


def upload_certificates(plan: InitPlan, announce: Callable[[str], None] = print) -> str | None:
    """The upload-certs phase (only with ``--upload-certs``): the shared keys encrypted in ``kubeadm-certs`` under
    the certificate key (a new one unless given); the key, or None when skipped."""
    from pinnace.adm.certs import certificate_key
    from pinnace.adm.uploadcerts import SECRET_NAME, UploadCertsError, upload_certs

    if not plan.upload_certs:
        announce("[upload-certs] Skipping phase. Please see --upload-certs")
        return None
    key = plan.init.certificate_key or certificate_key()
    announce(f'[upload-certs] Storing the certificates in Secret "{SECRET_NAME}" in the "kube-system" Namespace')
    try:
        asyncio.run(with_admin_client(plan, lambda rest: upload_certs(rest, plan.data_dir, key)))
    except UploadCertsError as exc:
        raise InitError(f"[upload-certs] {exc}") from None
    plan.init.certificate_key = key
    announce(f"[upload-certs] Using certificate key:\n{key}")
    return key


def closing_text(plan: InitPlan, token: str) -> str:
    """What kubeadm prints when init has succeeded, with Pinnace's paths and join command."""
    join = join_command(plan, token).replace(" --discovery-token-ca-cert-hash", " \\\n\t--discovery-token-ca-cert-hash")
    admin = plan.admin_conf
    control_plane = _control_plane_text(plan, token)
    return f"""Your Kubernetes control-plane has initialized successfully!

To start using your cluster, you need to run the following as a regular user:

  mkdir -p $HOME/.kube
  cp -i {admin} $HOME/.kube/config

Alternatively, you can run:

  export KUBECONFIG={admin}

Pods have a network already: this host's node agent gives each pod its address
(the process runtime) or runs the CNI bridge plugin (the oci runtime).

{control_plane}Then you can join any number of worker nodes by running the following on each:

{join}
"""


def _control_plane_text(plan: InitPlan, token: str) -> str:
    """kubeadm's paragraph on joining control-plane nodes, when the certificates were uploaded."""
    if not plan.init.certificate_key:
        return ""
    join = join_command(plan, token, control_plane=True).replace(" --", " \\\n\t--")
    return f"""You can now join any number of control-plane nodes running the following command on each:

{join}

Please note that the certificate-key gives access to cluster sensitive data, keep it secret!
As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use
"pinnace adm init phase upload-certs --upload-certs" to reload certs afterward.

"""


async def first_join_token(rest: RestClient) -> str:
    """A valid bootstrap token for authentication, to show in the join command (InitError if none)."""
    for token in await tokens.list_tokens(rest):
        if "authentication" in token.usages and tokens.format_ttl(token) != "<invalid>":
            return token.token
    raise InitError("no valid bootstrap token: create one with `pinnace adm token create`")


async def with_admin_client(plan: InitPlan, action: Callable[[RestClient], Any]) -> Any:
    """``action(client)`` with a client of the admin kubeconfig, closed after."""
    rest = client(plan)
    try:
        return await action(rest)
    finally:
        await rest.close()


def run_phase(plan: InitPlan, phase: str, part: str = "all", announce: Callable[[str], None] = print) -> str | None:
    """Run one phase of init on this host; a token for the join command when the phase made or chose one."""
    if phase == "preflight":
        announce("[preflight] Running pre-flight checks")
        for warning in preflight(plan):
            announce(warning)
    elif phase == "certs":
        for name in certs(plan, part):
            announce(f"[certs] Using {name} in {plan.data_dir / 'pki'}")
    elif phase == "kubeconfig":
        for path in kubeconfig(plan, part):
            announce(f'[kubeconfig] Writing "{path.name}" kubeconfig file')
    elif phase == "etcd":
        etcd(plan, announce)
    elif phase == "control-plane":
        control_plane(plan, announce)
    elif phase == "upload-config":
        announce(f'[upload-config] Storing the configuration used in ConfigMap "{KUBEADM_CONFIG}" in "kube-system"')
        endpoints = [plan.local_etcd().client_url] if plan.stacked_etcd else []
        asyncio.run(with_admin_client(plan, lambda rest: upload_config(rest, plan.cluster, endpoints)))
    elif phase == "upload-certs":
        upload_certificates(plan, announce)
    elif phase == "mark-control-plane":
        labels = f'[{CONTROL_PLANE_LABEL}="" {EXCLUDE_LB_LABEL}=""]'
        announce(f"[mark-control-plane] Marking the node {plan.init.node_name} as control-plane by adding the labels: "
                 f"{labels}")  # fmt: skip
        taints = ", ".join(f"{t['key']}:{t['effect']}" for t in plan.init.control_plane_taints())
        announce(f"[mark-control-plane] Marking the node {plan.init.node_name} as control-plane by adding the taints "
                 f"[{taints}]")  # fmt: skip
        asyncio.run(with_admin_client(plan, lambda rest: mark_control_plane(rest, plan.init, timeout=plan.timeout)))
    elif phase == "bootstrap-token":
        made = asyncio.run(with_admin_client(plan, lambda rest: bootstrap_tokens(rest, plan.init)))
        for token in made:
            announce(f"[bootstrap-token] Using token: {token.token}")
        publish_control_plane_endpoint(plan, announce)
        return made[0].token if made else None
    elif phase == "show-join-command":
        chosen = str(plan.init.bootstrap_tokens[0].get("token") or "") if plan.init.bootstrap_tokens else ""
        token = chosen or asyncio.run(with_admin_client(plan, first_join_token))
        announce(closing_text(plan, token))
        return str(token)
    else:
        raise InitError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
    return None


def _parts_to_run(phase: str, skipped: set[str]) -> list[str]:
    """The parts of ``phase`` to run when ``phase/part`` names are skipped (["all"] when none are)."""
    if not skipped:
        return ["all"]
    parts = [p for p in (CERT_PHASES if phase == "certs" else KUBECONFIG_PHASES) if p != "all"]
    unknown = skipped - set(parts)
    if unknown:
        raise ConfigError(f"unknown {phase} phases to skip: {', '.join(sorted(unknown))}; known: {', '.join(parts)}")
    if phase == "certs":
        leafs = {"apiserver", "apiserver-kubelet-client", "front-proxy-client"}
        if skipped & leafs and leafs - skipped:
            raise ConfigError("the leaf certificates are made together: skip all of them or none")
        return [p for p in ("ca", "front-proxy-ca", "sa") if p not in skipped] + ([] if skipped & leafs else ["all"])
    return [p for p in parts if p not in skipped]


def run_all(plan: InitPlan, skip: Sequence[str] = (), announce: Callable[[str], None] = print) -> None:
    """``init``: every phase in order but those skipped; ``certs/ca`` or ``kubeconfig/admin`` skip one part."""
    unknown = [s for s in skip if s.split("/")[0] not in PHASES]
    if unknown:
        raise ConfigError(f"unknown phases to skip: {', '.join(unknown)}; known: {', '.join(PHASES)}")
    for phase in PHASES:
        if phase in skip:
            continue
        if phase in ("certs", "kubeconfig"):
            for part in _parts_to_run(phase, {s.split("/", 1)[1] for s in skip if s.startswith(phase + "/")}):
                run_phase(plan, phase, part, announce=announce)
            continue
        run_phase(plan, phase, announce=announce)
