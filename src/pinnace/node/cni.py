"""CNI: calling the real network plugins (``containernetworking-plugins``) per the CNI 1.0.0 spec.

A node's pods are wired by one network configuration list (a *conflist*) that
the node agent writes for its node: ``bridge`` (a per-node bridge, the pods'
gateway, masquerading egress) with ``host-local`` IPAM over the node's podCIDR,
then ``portmap`` (hostPorts, from the runtimeConfig ``portMappings``) and
``loopback`` (brings up ``lo`` in the pod, passing the result through).

:class:`CNI` runs a conflist the way libcni does: ADD runs the plugins in
order, each given the previous one's result as ``prevResult``; DEL runs them in
reverse order with the cached ADD result; CHECK runs them in order with it. A
plugin is an executable found on ``CNI_PATH``, given the operation in
``CNI_*`` environment variables and its configuration on stdin; it answers
with JSON on stdout — a result, or an error object whose message becomes the
:class:`~pinnace.node.cri.RuntimeFailure` the agent reports.

Each plugin is a process, so a pod runs only the plugins that have work to do:
a plugin in :data:`PASS_THROUGH` is skipped when the pod gives it nothing —
``portmap`` without hostPorts returns its ``prevResult`` untouched on ADD
(containernetworking/plugins ``portmap``'s cmdAdd), and its DEL is skipped
when the cached ADD had no port mappings either (there is nothing to remove).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from pinnace.node.cri import PortMapping, RuntimeFailure

#: The spec version Pinnace speaks to plugins.
CNI_VERSION = "1.0.0"
#: Where Debian's containernetworking-plugins put the plugin binaries.
DEFAULT_PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
#: The interface name a pod's primary network gets (as every Kubernetes runtime uses).
POD_INTERFACE = "eth0"
#: Plugins that act only on one runtimeConfig capability and pass ``prevResult`` through without it.
PASS_THROUGH = {"portmap": "portMappings"}


def node_conflist(*, network: str, bridge: str, pod_cidr: str, data_dir: str, ip_masq: bool = True) -> dict[str, Any]:
    """The conflist for one node: its bridge, IPAM over its podCIDR, hostPorts and loopback.

    ``data_dir`` keeps host-local's address leases apart per node (several
    nodes may share one host's filesystem).
    """
    return {
        "cniVersion": CNI_VERSION,
        "name": network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": ip_masq,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": data_dir,
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "loopback"},
        ],
    }


def write_conflist(path: str | os.PathLike[str], conflist: Mapping[str, Any]) -> None:
    """Write a conflist atomically (the agent rewrites it when its podCIDR is known)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(conflist, indent=2))
    tmp.replace(target)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One pod's attachment to the network: what ADD was called with, and its result."""

    container_id: str
    netns: str
    ifname: str
    result: Mapping[str, Any]

    @property
    def ips(self) -> tuple[str, ...]:
        """The pod's addresses (without prefix length), as status.podIPs lists them."""
        return tuple(str(ip["address"]).split("/")[0] for ip in self.result.get("ips", ()))


def _runtime_config(capabilities: Mapping[str, Any], port_mappings: Sequence[PortMapping]) -> dict[str, Any]:
    """The runtimeConfig a plugin gets: only the capabilities it declares (libcni's rule)."""
    config: dict[str, Any] = {}
    if capabilities.get("portMappings") and port_mappings:
        config["portMappings"] = [
            {
                "hostPort": pm.host_port,
                "containerPort": pm.container_port,
                "protocol": pm.protocol.lower(),
                **({"hostIP": pm.host_ip} if pm.host_ip else {}),
            }
            for pm in port_mappings
        ]
    return config


def _idle(plugin: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether a chained plugin has nothing to do for this pod (a :data:`PASS_THROUGH` one without its capability)."""
    capability = PASS_THROUGH.get(str(plugin.get("type")))
    return capability is not None and capability not in config.get("runtimeConfig", {})


class CNI:
    """Runs one conflist's plugins for pods (ADD, CHECK, DEL), as libcni does."""

    def __init__(
        self,
        conflist: Mapping[str, Any],
        *,
        plugin_dirs: Sequence[str] = DEFAULT_PLUGIN_DIRS,
        cache_dir: str | os.PathLike[str],
    ) -> None:
        self.conflist = dict(conflist)
        self.plugin_dirs = tuple(plugin_dirs)
        self.cache_dir = Path(cache_dir)

    @property
    def network(self) -> str:
        """The network's name (the conflist's ``name``)."""
        return str(self.conflist["name"])

    def _plugin_config(
        self, plugin: Mapping[str, Any], prev: Mapping[str, Any] | None, port_mappings: Sequence[PortMapping]
    ) -> dict[str, Any]:
        config = {k: v for k, v in plugin.items() if k != "capabilities"}
        config["cniVersion"] = self.conflist.get("cniVersion", CNI_VERSION)
        config["name"] = self.network
        runtime_config = _runtime_config(plugin.get("capabilities", {}), port_mappings)
        if runtime_config:
            config["runtimeConfig"] = runtime_config
        if prev is not None:
            config["prevResult"] = dict(prev)
        return config

    async def _invoke(
        self, command: str, plugin_type: str, config: Mapping[str, Any], container_id: str, netns: str, ifname: str
    ) -> dict[str, Any]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": os.pathsep.join(self.plugin_dirs),
        }
        executable = self._find(plugin_type)
        proc = await asyncio.create_subprocess_exec(
            executable,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await proc.communicate(json.dumps(config).encode())
        answer: dict[str, Any] = {}
        if out.strip():
            try:
                answer = json.loads(out)
            except ValueError:
                answer = {"msg": out.decode(errors="replace").strip()}
        if proc.returncode != 0:
            message = answer.get("msg") or err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            details = answer.get("details")
            text = f"plugin type={plugin_type!r} {command} failed: {message}" + (f" ({details})" if details else "")
            raise RuntimeFailure(text)
        return answer

    def _find(self, plugin_type: str) -> str:
        for directory in self.plugin_dirs:
            candidate = os.path.join(directory, plugin_type)
            if os.access(candidate, os.X_OK):
                return candidate
        raise RuntimeFailure(f"failed to find plugin {plugin_type!r} in path {list(self.plugin_dirs)}")

    def _cache_path(self, container_id: str, ifname: str) -> Path:
        return self.cache_dir / f"{self.network}-{container_id}-{ifname}.json"

    async def add(
        self,
        container_id: str,
        netns: str,
        *,
        ifname: str = POD_INTERFACE,
        port_mappings: Sequence[PortMapping] = (),
    ) -> Attachment:
        """Attach a pod's network namespace: run every plugin's ADD in order, chaining results.

        On a failure the plugins that already ran are undone (DEL), so nothing
        half-attached is left behind.
        """
        prev: dict[str, Any] | None = None
        for index, plugin in enumerate(self.conflist["plugins"]):
            config = self._plugin_config(plugin, prev, port_mappings)
            if prev is not None and _idle(plugin, config):
                continue
            try:
                prev = await self._invoke("ADD", plugin["type"], config, container_id, netns, ifname)
            except RuntimeFailure:
                plugins = self.conflist["plugins"][: index + 1]
                with contextlib.suppress(RuntimeFailure):  # the ADD's error is the one to report
                    await self._delete_plugins(plugins, None, container_id, netns, ifname, port_mappings)
                raise
        result = prev or {}
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        cached = {"result": result, "portMappings": [astuple(pm) for pm in port_mappings]}
        self._cache_path(container_id, ifname).write_text(json.dumps(cached))
        return Attachment(container_id, netns, ifname, result)

    def cached(self, container_id: str, ifname: str = POD_INTERFACE) -> tuple[dict[str, Any] | None, list[PortMapping]]:
        """The result (and hostPorts) of the last successful ADD for this pod, if any."""
        try:
            cached = json.loads(self._cache_path(container_id, ifname).read_text())
        except (OSError, ValueError):
            return None, []
        mappings = [PortMapping(*state) for state in cached.get("portMappings", [])]
        return cached.get("result"), mappings

    async def check(self, container_id: str, netns: str, *, ifname: str = POD_INTERFACE) -> None:
        """Ask every plugin whether the attachment is still as ADD left it (raises RuntimeFailure if not)."""
        result, mappings = self.cached(container_id, ifname)
        if result is None:
            raise RuntimeFailure(f"no cached result for {container_id}/{ifname}: was it added?")
        for plugin in self.conflist["plugins"]:
            config = self._plugin_config(plugin, result, mappings)
            await self._invoke("CHECK", plugin["type"], config, container_id, netns, ifname)

    async def delete(self, container_id: str, netns: str, *, ifname: str = POD_INTERFACE) -> None:
        """Detach a pod: every plugin's DEL in reverse order. Idempotent; ``netns`` may already be gone ("")."""
        result, mappings = self.cached(container_id, ifname)
        plugins = self.conflist["plugins"]
        if result is not None:  # what ADD skipped has nothing to undo (without a cached ADD, every plugin runs)
            plugins = [p for p in plugins if not _idle(p, self._plugin_config(p, result, mappings))]
        await self._delete_plugins(plugins, result, container_id, netns, ifname, mappings)
        self._cache_path(container_id, ifname).unlink(missing_ok=True)

    async def _delete_plugins(
        self,
        plugins: Sequence[Mapping[str, Any]],
        result: Mapping[str, Any] | None,
        container_id: str,
        netns: str,
        ifname: str,
        port_mappings: Sequence[PortMapping],
    ) -> None:
        failures: list[str] = []
        for plugin in reversed(plugins):
            config = self._plugin_config(plugin, result, port_mappings)
            try:
                await self._invoke("DEL", plugin["type"], config, container_id, netns, ifname)
            except RuntimeFailure as exc:
                failures.append(str(exc))
        if failures:
            raise RuntimeFailure("; ".join(failures))
