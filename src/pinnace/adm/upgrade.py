"""``pinnace adm upgrade plan|apply|diff|node``: kubeadm's version skew rules and what an upgrade means here.

Pinnace has exactly one version installed: the Kubernetes version it serves
(:data:`pinnace.KUBERNETES_VERSION`) is both "kubeadm's version" and the only
version its components can run at. A cluster's *recorded* version is the
``kubernetesVersion`` of the ClusterConfiguration in ``kubeadm-config``. An
upgrade is therefore what it is with kubeadm once the new binaries are
installed: check the skew policy, record the new version in ``kubeadm-config``
and restart the control plane on this host with its saved configuration (the
static-pod manifests' counterpart, ``DATA_DIR/kubeadm.yaml``); after a new
Pinnace is installed, that restart is what brings its components up. ``node``
does the same for a node: the control plane's, or a worker's agent (restarted
by whoever runs it — ``pinnace adm join`` in the foreground, or a service).

The policy is kubeadm's (``phases/upgrade/policy.go``): one minor version at a
time, never past kubeadm's own minor version; a patch above kubeadm's, or
kubelets more than three minors behind, are errors that ``--force`` lets through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from pinnace import KUBERNETES_VERSION
from pinnace.adm.config import ClusterConfiguration, dump_documents
from pinnace.adm.init import (
    CONTROL_PLANE_LABEL,
    NODES,
    InitPlan,
    control_plane,
    publish_control_plane_endpoint,
)
from pinnace.adm.kubeadmconfig import download_config, upload_config
from pinnace.client.rest import RestClient

__all__ = [
    "INSTALLED",
    "MAX_KUBELET_SKEW",
    "MAX_MINOR_SKEW",
    "ClusterVersions",
    "SkewError",
    "Version",
    "VersionCheck",
    "check_versions",
    "config_diff",
    "plan_text",
    "read_versions",
    "record_version",
    "restart_control_plane",
]

#: kubeadm's MaximumAllowedMinorVersionUpgradeSkew and ...DowngradeSkew.
MAX_MINOR_SKEW = 1
#: kubeadm's MaximumAllowedMinorVersionKubeletSkew (kubelets may be three minors behind the control plane).
MAX_KUBELET_SKEW = 3
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


class SkewError(ValueError):
    """A version the skew policy refuses; ``skippable`` errors pass with ``--force``."""

    def __init__(self, message: str, *, skippable: bool = False) -> None:
        super().__init__(message)
        self.skippable = skippable


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """A Kubernetes semantic version (major, minor, patch)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """``v1.32.0`` or ``1.32.0`` (ValueError with kubeadm's wording otherwise)."""
        match = _VERSION.match(text.strip())
        if match is None:
            raise ValueError(f'unable to parse version "{text}": not a valid Kubernetes version (vMAJOR.MINOR.PATCH)')
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"


INSTALLED = Version.parse(KUBERNETES_VERSION)


@dataclass(frozen=True, slots=True)
class VersionCheck:
    """The outcome of the policy for one target: errors that stop it, and those ``--force`` lets through."""

    mandatory: tuple[str, ...]
    skippable: tuple[str, ...]

    def raise_for(self, force: bool) -> None:
        """SkewError with every error that applies (skippable ones only without ``force``)."""
        problems = [*self.mandatory, *(() if force else self.skippable)]
        if problems:
            raise SkewError(
                "[upgrade/version] FATAL: the upgrade is not allowed:\n\t" + "\n\t".join(problems),
                skippable=not self.mandatory,
            )


def check_versions(
    cluster: Version, target: Version, *, kubeadm: Version = INSTALLED, kubelets: tuple[Version, ...] = ()
) -> VersionCheck:
    """kubeadm's EnforceVersionPolicies for upgrading (or downgrading) ``cluster`` to ``target``."""
    mandatory: list[str] = []
    skippable: list[str] = []
    if target.major != cluster.major:
        mandatory.append(f'Specified version to upgrade to "{target}" is of another major version than the cluster')
    elif target.minor > cluster.minor + MAX_MINOR_SKEW:
        mandatory.append(
            f'Specified version to upgrade to "{target}" is too high; kubeadm can upgrade only '
            f"{MAX_MINOR_SKEW} minor version at a time"
        )
    elif target.minor < cluster.minor - MAX_MINOR_SKEW:
        mandatory.append(
            f'Specified version to downgrade to "{target}" is too low; kubeadm can downgrade only '
            f"{MAX_MINOR_SKEW} minor version at a time"
        )
    if (target.major, target.minor) > (kubeadm.major, kubeadm.minor):
        mandatory.append(
            f'Specified version to upgrade to "{target}" is at least one minor release higher than the kubeadm '
            f"minor release ({target.minor} > {kubeadm.minor}). Such an upgrade is not supported"
        )
    elif target > kubeadm:
        skippable.append(
            f'Specified version to upgrade to "{target}" is higher than the kubeadm version "{kubeadm}". '
            "Upgrade kubeadm first using the tool you used to install kubeadm"
        )
    if (kubeadm.major, kubeadm.minor) > (target.major, target.minor):
        skippable.append(
            f"Kubeadm version {kubeadm} can only be used to upgrade to Kubernetes version "
            f"{kubeadm.major}.{kubeadm.minor}"
        )
    if target < cluster and target.minor < cluster.minor:
        skippable.append(f'Specified version to upgrade to "{target}" is lower than the cluster version "{cluster}"')
    for kubelet in kubelets:
        if kubelet.minor < target.minor - MAX_KUBELET_SKEW:
            skippable.append(f'Kubelet version "{kubelet}" is lower than kubeadm can support. Please upgrade kubelet')
    return VersionCheck(tuple(mandatory), tuple(dict.fromkeys(skippable)))


def plan_table(rows: list[tuple[str, str, str, str]]) -> str:
    """``kubeadm upgrade plan``'s COMPONENT / NODE / CURRENT / TARGET table."""
    header = ("COMPONENT", "NODE", "CURRENT", "TARGET")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) + 3 for i in range(4)]
    return "\n".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table)


# ---- against a cluster ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClusterVersions:
    """What ``upgrade`` reads from the cluster: the recorded version and each node's kubelet version."""

    cluster: Version
    kubelets: dict[str, Version]
    control_plane_nodes: tuple[str, ...]


async def read_versions(rest: RestClient) -> tuple[ClusterConfiguration, ClusterVersions]:
    """The ClusterConfiguration in ``kubeadm-config`` and the versions the cluster runs."""
    cluster = await download_config(rest)
    nodes = (await rest.list(NODES))["items"]
    kubelets: dict[str, Version] = {}
    control_plane: list[str] = []
    for node in nodes:
        name = node["metadata"]["name"]
        with contextlib.suppress(ValueError):
            kubelets[name] = Version.parse(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""))
        if CONTROL_PLANE_LABEL in (node["metadata"].get("labels") or {}):
            control_plane.append(name)
    return cluster, ClusterVersions(Version.parse(cluster.kubernetes_version), kubelets, tuple(control_plane))


def plan_text(versions: ClusterVersions, target: Version = INSTALLED) -> str:
    """``kubeadm upgrade plan``'s report for upgrading to ``target`` (Pinnace's installed version by default)."""
    lines = [
        f"[upgrade/versions] Cluster version: {versions.cluster}",
        f"[upgrade/versions] kubeadm version: {INSTALLED}",
        f"[upgrade/versions] Target version: {target}",
        f"[upgrade/versions] Latest version in the v{target.major}.{target.minor} series: {target}",
        "",
    ]
    behind = target > versions.cluster or any(v < target for v in versions.kubelets.values())
    if not behind:
        return "\n".join([*lines, "Awesome, you're up-to-date! Enjoy!"])
    kubelet_rows = [("kubelet", name, str(v), str(target)) for name, v in sorted(versions.kubelets.items())]
    if kubelet_rows:
        lines += [
            "Components that must be upgraded manually after you have upgraded the control plane with "
            "'pinnace adm upgrade apply':",
            plan_table(kubelet_rows),
            "",
        ]
    nodes = versions.control_plane_nodes or ("(this host)",)
    rows = [
        (component, node, str(versions.cluster), str(target))
        for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        for node in nodes
    ]
    lines += [
        f"Upgrade to the latest version in the v{target.major}.{target.minor} series:",
        "",
        plan_table(rows),
        "",
        "You can now apply the upgrade by executing the following command:",
        "",
        f"\tpinnace adm upgrade apply {target}",
    ]
    return "\n".join(lines)


def config_diff(current: ClusterConfiguration, target: Version) -> str:
    """``upgrade diff``: the unified diff of the ClusterConfiguration an apply to ``target`` would record."""
    before = dump_documents([current.to_document()])
    after = dump_documents([dataclasses.replace(current, kubernetes_version=str(target)).to_document()])
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            "kubeadm-config (current)",
            "kubeadm-config (after apply)",
        )
    )


async def record_version(rest: RestClient, current: ClusterConfiguration, target: Version) -> ClusterConfiguration:
    """Write ``target`` as the cluster's version in ``kubeadm-config``; the new ClusterConfiguration."""
    updated = dataclasses.replace(current, kubernetes_version=str(target))
    await upload_config(rest, updated)
    return updated


def restart_control_plane(plan: InitPlan, announce: Callable[[str], None] = print) -> str:
    """Stop this host's control plane and start it again from ``kubeadm.yaml``; its URL once ready."""
    from pinnace.cluster import daemon

    stopped = daemon.stop(plan.data_dir)
    if stopped is not None:
        announce(f"[upgrade/staticpods] Stopped the control plane (pid {stopped.pid})")
    url = control_plane(plan, announce)
    publish_control_plane_endpoint(plan, announce)  # the restarted server named itself in cluster-info
    return url
