"""The container runtime interface the node agent drives, in the CRI's shape.

The node agent (the kubelet part) never starts a process or a container itself:
it asks a :class:`RuntimeService` for pod sandboxes and containers, and an
:class:`ImageService` for images, as the kubelet asks containerd or CRI-O over
the CRI. Two runtimes implement it: ``process`` (host subprocesses; no root,
the default) and ``oci`` (runc/crun with a generated bundle and CNI networking).

The types mirror the CRI's messages (``k8s.io/cri-api`` v1) where the kubelet
needs them, trimmed to what Pinnace uses; names are Pythonic. Everything is
asyncio. A runtime keeps its own record of what it runs on disk (under its
state directory), so that a restarted agent finds — and adopts — the
sandboxes and containers it started before, instead of duplicating them.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Labels every sandbox and container carries, so the agent can map runtime state back to pods.
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"


class SandboxState(enum.Enum):
    """A pod sandbox's state (CRI PodSandboxState)."""

    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    """A container's state (CRI ContainerState)."""

    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass(frozen=True, slots=True)
class PortMapping:
    """A hostPort of the pod (CRI PortMapping)."""

    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """What a pod sandbox is made from (CRI PodSandboxConfig)."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    #: Directory the pod's container logs go under (``<root>/pods/<ns>_<name>_<uid>``).
    log_directory: str = ""
    host_network: bool = False
    port_mappings: tuple[PortMapping, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: Pod-level sysctls, DNS and cgroup parent are the runtime's to apply where it can.
    #: The pod's resolver (CRI DNSConfig, as the kubelet's GetPodDNS forms it); no servers: the host's file.
    dns_servers: tuple[str, ...] = ()
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    #: The pod's dnsPolicy (defaulted: ClusterFirst). A runtime whose pods share the host's files keeps the host's
    #: resolv.conf for a hostNetwork pod unless this asks for the cluster's (ClusterFirstWithHostNet) or None.
    dns_policy: str = ""
    #: The pod's domain, ``<subdomain>.<namespace>.svc.<clusterDomain>`` when spec.subdomain is set ("" otherwise):
    #: the managed /etc/hosts names the pod's IP by ``<hostname>.<domain>`` first.
    host_domain: str = ""
    #: spec.hostAliases: (IP, hostnames) pairs the managed /etc/hosts adds.
    host_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cgroup_parent: str = ""


def sandbox_config_from_dict(data: Mapping[str, Any]) -> SandboxConfig:
    """A SandboxConfig from its JSON form (``dataclasses.asdict``): what a runtime recorded on disk, read back."""
    fields = dict(data)
    fields["port_mappings"] = tuple(PortMapping(**pm) for pm in data.get("port_mappings") or ())
    for key in ("dns_servers", "dns_searches", "dns_options"):
        fields[key] = tuple(data.get(key) or ())
    fields["host_aliases"] = tuple((str(ip), tuple(names)) for ip, names in data.get("host_aliases") or ())
    return SandboxConfig(**fields)


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume mount, already resolved by the agent to a host path (CRI Mount)."""

    container_path: str
    host_path: str
    readonly: bool = False
    #: Mount a single file rather than a directory (subPath of a file, or a projected file).
    is_file: bool = False


@dataclass(frozen=True, slots=True)
class Resources:
    """Resource limits for a container, from resources.limits/requests (CRI LinuxContainerResources)."""

    cpu_millis_limit: int | None = None
    cpu_millis_request: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class SecurityContext:
    """The basics of a container's securityContext the runtimes honour."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    privileged: bool = False
    read_only_root_filesystem: bool = False
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()
    allow_privilege_escalation: bool | None = None


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """What a container is made from (CRI ContainerConfig), with env and mounts already resolved."""

    name: str
    image: str
    #: The image's resolved reference/ID as the image service reported it ("" for the process runtime).
    image_ref: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str = ""
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    #: Absolute path of the file this container's output goes to (CRI log format, one line per chunk).
    log_path: str = ""
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    resources: Resources = field(default_factory=Resources)
    security: SecurityContext = field(default_factory=SecurityContext)
    attempt: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: The ID of a running container of the same sandbox whose process namespace this one joins (an ephemeral
    #: container's ``targetContainerName``, CRI's NamespaceMode TARGET); "" for the container's own.
    pid_namespace_of: str = ""


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """A pod sandbox as the runtime sees it (CRI PodSandboxStatus)."""

    id: str
    config: SandboxConfig
    state: SandboxState
    created_at: float
    #: The pod's IPs (first is primary); the host's address for host-network or process pods.
    ips: tuple[str, ...] = ()
    #: Path of the sandbox's network namespace ("" when it shares the host's).
    netns_path: str = ""


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    """A container as the runtime sees it (CRI ContainerStatus). Times are UNIX seconds, 0 when unset."""

    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: ContainerState
    image: str
    image_ref: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    #: "Completed", "Error", "OOMKilled", "ContainerCannotRun", … as the kubelet reports them.
    reason: str = ""
    message: str = ""
    log_path: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """A running container's CPU and memory usage at one moment (CRI ContainerStats, trimmed to CPU and memory).

    What the kubelet's ``/stats/summary`` and ``/metrics/resource`` report per container; the rate of CPU use
    (usageNanoCores) is the kubelet's to work out from two of these.
    """

    container_id: str
    #: When it was measured (UNIX seconds).
    timestamp: float
    #: CPU time used by all of the container's processes since it started, in nanoseconds (a counter).
    cpu_usage_core_nanoseconds: int
    #: Memory that cannot be reclaimed under pressure: usage less inactive file cache (what eviction and
    #: ``kubectl top`` look at).
    memory_working_set_bytes: int
    #: All memory charged to the container, page cache included.
    memory_usage_bytes: int
    #: Anonymous memory (and swap cache): what stays resident without a file behind it.
    memory_rss_bytes: int


@dataclass(frozen=True, slots=True)
class ExecResult:
    """The outcome of a synchronous exec (probes)."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


class StreamSession(Protocol):
    """A running exec or attach: the caller pumps the streams (the kubelet's streaming server does).

    With a TTY, stderr is None (a terminal merges the streams). ``stdin`` is None
    when the session was not asked for stdin.
    """

    stdin: asyncio.StreamWriter | None
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader | None

    def resize(self, width: int, height: int) -> None:
        """Change the terminal size (a no-op without a TTY)."""

    async def wait(self) -> int:
        """Wait for the process to end; its exit code (128+N for signal N)."""

    async def close(self) -> None:
        """End the session: close stdin and, for exec, stop the process if it is still running."""


@runtime_checkable
class RuntimeService(Protocol):
    """Pod sandboxes and containers (the CRI RuntimeService), plus the streams the kubelet serves.

    Every method raises :class:`RuntimeError` subclasses from this module:
    :class:`NotFoundError` for an unknown ID, :class:`RuntimeFailure` for
    anything the runtime could not do (its message is what the agent puts in
    events and container status).
    """

    name: str

    async def version(self) -> str:
        """The runtime's name and version, as nodeInfo.containerRuntimeVersion shows it (``process://1.0``)."""

    async def run_pod_sandbox(self, config: SandboxConfig) -> str:
        """Create and start a sandbox (network namespace and CNI ADD for ``oci``); its ID."""

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop every container in it (forcibly) and release its network (CNI DEL). Idempotent."""

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove a stopped sandbox and its containers' records. Idempotent."""

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        """The sandbox's state and IPs."""

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        """Every sandbox this runtime knows (including ones from before an agent restart)."""

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Create (not start) a container in a sandbox; its ID."""

    async def start_container(self, container_id: str) -> None:
        """Start a created container."""

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (0: SIGKILL at once). Idempotent."""

    async def remove_container(self, container_id: str) -> None:
        """Remove an exited container's record (its log file stays until the pod goes). Idempotent."""

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container (of one sandbox, when given)."""

    async def container_status(self, container_id: str) -> ContainerStatus:
        """One container's state."""

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """The container's CPU and memory usage now; None when it is not running (or not known)."""

    async def exec_sync(self, container_id: str, command: Sequence[str], timeout: float) -> ExecResult:
        """Run a command in the container and collect its output (exec probes)."""

    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> StreamSession:
        """Start a command in the container with streams (``kubectl exec``)."""

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> StreamSession:
        """Attach to the container's main process (``kubectl attach``; needs stdin/tty set in its spec)."""

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` inside the sandbox's network (``kubectl port-forward``)."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image in the local store (CRI Image)."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Credentials for a pull, from the pod's imagePullSecrets (CRI AuthConfig)."""

    username: str = ""
    password: str = ""
    auth: str = ""
    identity_token: str = ""
    registry_token: str = ""


@runtime_checkable
class ImageService(Protocol):
    """Images on this node (the CRI ImageService)."""

    async def pull_image(self, reference: str, auth: RegistryAuth | None = None) -> str:
        """Pull an image (no-op when present); its ID (``sha256:…`` config digest)."""

    async def image_status(self, reference: str) -> ImageInfo | None:
        """The image, or None when it is not present."""

    async def list_images(self) -> list[ImageInfo]:
        """Every image present."""

    async def remove_image(self, reference: str) -> None:
        """Remove an image (its blobs go when nothing else refers to them)."""


class CRIError(RuntimeError):
    """A runtime or image service could not do what was asked."""


class NotFoundError(CRIError):
    """No sandbox, container or image with that ID or reference."""


class RuntimeFailure(CRIError):
    """The runtime tried and failed; the message says why (it ends up in events and status)."""


class ImagePullError(CRIError):
    """An image could not be pulled (ErrImagePull); the message says why."""
