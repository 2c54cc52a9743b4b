"""The process ``pinnace up`` becomes: ``python -m pinnace.cluster.up_main --options JSON``.

``pinnace up`` parses its flags with typer, then replaces itself (``exec``,
same pid) by this entry point, handing it the flags as one JSON document
(:class:`UpOptions`). The process that serves the API then never imported the
command line: typer, its vendored click and every other command's module would
stay resident in the server for nothing (issue 3 judges the idle RSS of
``pinnace up``). The pid, the terminal, the exit code and the signals are the
user's ``pinnace up`` all along, so ``pinnace down``/``status`` and Ctrl-C work
as before. The controller manager and node agents are started the same way
(:mod:`pinnace.cluster.child_entry`).

:meth:`UpOptions.config` turns the flags into a :class:`ClusterConfig` (or says
what is wrong, exit code 2); ``pinnace up --detach`` calls it in the command
line's process to fail early, and starts a ``pinnace up`` with
:meth:`UpOptions.arguments` in the background.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, overload

if TYPE_CHECKING:
    from pinnace.cluster.controller_manager import ControllerManagerConfig
    from pinnace.cluster.local import ClusterConfig
    from pinnace.cluster.nodes import NodesConfig

__all__ = ["UpOptions", "UpOptionsError", "controller_manager_config", "exec_up", "main"]

#: This module, as ``python -m`` runs it.
ENTRY_MODULE = "pinnace.cluster.up_main"
#: Flags whose name is not the field's (``--config`` is the cluster description file).
_FLAG_NAMES = {"config_file": "--config"}
#: What :func:`pinnace.cluster.daemon.start_detached` passes itself.
_DETACHED_OWN = ("data_dir", "port", "host", "merge_kubeconfig")


class UpOptionsError(ValueError):
    """A ``pinnace up`` flag is wrong (``pinnace up`` exits 2 with the message)."""


@dataclass(frozen=True, slots=True)
class UpOptions:
    """Every flag of ``pinnace up`` but ``--detach``, as given (paths not yet resolved; the command line's defaults)."""

    data_dir: str
    port: int
    host: str
    merge_kubeconfig: bool
    log_level: str
    controllers: str
    sim_nodes: int
    nodes: int
    runtime: str
    config_file: str | None
    node_monitor_grace_period: float
    pod_eviction_timeout: float
    store: str
    etcd_cafile: str | None
    etcd_certfile: str | None
    etcd_keyfile: str | None
    encryption_provider_config: str | None
    token_auth_file: str | None
    apiserver_cert_extra_sans: str
    control_plane_endpoint: str
    service_cluster_ip_range: str
    cluster_cidr: str
    enable_admission_plugins: str
    disable_admission_plugins: str
    event_ttl: float = 3600.0
    metric_resolution: float = 15.0
    horizontal_pod_autoscaler_sync_period: float = 15.0
    ingress_http_port: int | None = None
    ingress_https_port: int | None = None

    def to_json(self) -> str:
        """These options as one JSON document (what ``pinnace up`` hands the process it becomes)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> UpOptions:
        """The options :meth:`to_json` wrote."""
        return cls(**json.loads(text))

    def arguments(self) -> list[str]:
        """These options as ``pinnace up`` flags, less those :func:`~pinnace.cluster.daemon.start_detached` adds."""
        args = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name not in _DETACHED_OWN and value not in (None, ""):  # "": the flag's default
                args.append(f"{_FLAG_NAMES.get(field.name, '--' + field.name.replace('_', '-'))}={value}")
        return args

    def config(self) -> ClusterConfig:
        """The cluster these flags describe; :class:`UpOptionsError` says what is wrong with them."""
        from pinnace.apiserver.admission.plugins import resolve_plugins
        from pinnace.cluster.local import ClusterConfig
        from pinnace.cluster.security import SecurityConfig
        from pinnace.cluster.storeconfig import StoreConfig, parse_store_url

        cm = controller_manager_config(
            self.controllers, self.sim_nodes, self.node_monitor_grace_period, self.pod_eviction_timeout
        )
        try:
            endpoints = parse_store_url(self.store) if self.store else ()
            admission_plugins = resolve_plugins(self.enable_admission_plugins, self.disable_admission_plugins)
        except ValueError as exc:
            raise UpOptionsError(str(exc)) from None
        if self.event_ttl < 0:
            raise UpOptionsError(f"--event-ttl must be 0 (for ever) or more seconds, not {self.event_ttl:g}")
        if self.metric_resolution < 1:
            raise UpOptionsError(f"--metric-resolution must be 1 second or more, not {self.metric_resolution:g}")
        if (hpa_sync := self.horizontal_pod_autoscaler_sync_period) <= 0:
            raise UpOptionsError(f"--horizontal-pod-autoscaler-sync-period must be positive, not {hpa_sync:g}")
        cm = dataclasses.replace(cm, metric_resolution=self.metric_resolution, hpa_sync_period=hpa_sync)
        for flag, port in (("http", self.ingress_http_port), ("https", self.ingress_https_port)):
            if port is not None and not 0 <= port <= 65535:
                raise UpOptionsError(f"--ingress-{flag}-port must be a port number (0 for none), not {port}")
        store = StoreConfig(endpoints, _path(self.etcd_cafile), _path(self.etcd_certfile), _path(self.etcd_keyfile))
        if store.is_etcd:
            # Other API servers may share this etcd, each with a controller manager: only one may work at a time.
            cm = dataclasses.replace(cm, leader_elect=True)
        data_dir = _resolved(self.data_dir)
        encryption_provider_config = _resolved(self.encryption_provider_config)
        _check_encryption_config(data_dir, encryption_provider_config)
        return ClusterConfig(
            data_dir=data_dir,
            host=self.host,
            port=self.port,
            controller_manager=cm,
            nodes=self._nodes(),
            store=store,
            encryption_provider_config=encryption_provider_config,
            admission_plugins=admission_plugins,
            security=SecurityConfig(
                token_auth_file=_resolved(self.token_auth_file),
                cert_sans=tuple(s.strip() for s in self.apiserver_cert_extra_sans.split(",") if s.strip()),
                control_plane_endpoint=self.control_plane_endpoint,
            ),
            service_cidr=self.service_cluster_ip_range,
            cluster_cidr=self.cluster_cidr,
            event_ttl=self.event_ttl,
            ingress_http_port=self.ingress_http_port,
            ingress_https_port=self.ingress_https_port,
        )

    def _nodes(self) -> NodesConfig:
        """``--nodes``/``--runtime``/``--config`` as the node agents to run."""
        from pinnace.cluster.nodes import NodesConfig, load_cluster_config

        try:
            if self.config_file is not None:
                return load_cluster_config(_resolved(self.config_file), default_runtime=self.runtime)
            if self.nodes < 0:
                raise ValueError("--nodes must be 0 or more")
            return NodesConfig.count(self.nodes, self.runtime)
        except ValueError as exc:
            raise UpOptionsError(str(exc)) from None


def controller_manager_config(
    controllers: str, sim_nodes: int, grace_period: float, eviction_timeout: float
) -> ControllerManagerConfig:
    """The controller manager that ``--controllers``, ``--sim-nodes`` and the node lifecycle flags ask for.

    Shared by ``pinnace up`` and ``pinnace controller-manager``; :class:`UpOptionsError` says what is wrong.
    """
    from pinnace.cluster.controller_manager import ControllerManagerConfig, resolve_controllers

    try:
        names = resolve_controllers(controllers)
    except ValueError as exc:
        raise UpOptionsError(str(exc)) from None
    if sim_nodes < 0:
        raise UpOptionsError("--sim-nodes must be 0 or more")
    return ControllerManagerConfig(
        controllers=names,
        sim_nodes=sim_nodes,
        node_monitor_grace_period=grace_period,
        pod_eviction_timeout=eviction_timeout,
    )


def _path(value: str | None) -> Path | None:
    return Path(value) if value is not None else None


@overload
def _resolved(value: str) -> Path: ...
@overload
def _resolved(value: None) -> None: ...
def _resolved(value: str | None) -> Path | None:
    """A path flag as the user meant it: ``~`` expanded, relative to the directory ``pinnace up`` ran in."""
    return Path(value).expanduser().resolve() if value is not None else None


def _check_encryption_config(data_dir: Path, explicit: Path | None) -> None:
    """Refuse an EncryptionConfiguration file that would stop the server from starting."""
    from pinnace.apiserver.encryption import ConfigError, load
    from pinnace.cluster.encryption import DEFAULT_CONFIG_FILE

    path = explicit or data_dir / DEFAULT_CONFIG_FILE
    if explicit is None and not path.exists():
        return
    try:
        load(path)
    except ConfigError as exc:
        raise UpOptionsError(str(exc)) from None


def exec_up(options: UpOptions) -> NoReturn:
    """Become the server process: ``exec`` this entry point with ``options`` (same pid, terminal and signals).

    Under a profiler or a tracer (``python -m cProfile -m pinnace up``, pdb, coverage) the server runs in this
    process instead, so that they see it.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(run(options))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", ENTRY_MODULE, "--options", options.to_json()])


def run(options: UpOptions) -> int:
    """Run the cluster ``options`` describe in the foreground until SIGINT/SIGTERM; the exit code (2: bad flags)."""
    from pinnace.cluster.child_entry import configure_logging

    configure_logging(options.log_level)
    try:
        config = options.config()
    except UpOptionsError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    from pinnace.cluster import daemon

    return daemon.run_foreground(
        config, merge_user=options.merge_kubeconfig, announce=lambda text: print(text, flush=True)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pinnace up`` with the options the command line handed over; the exit code."""
    parser = argparse.ArgumentParser(prog=f"python -m {ENTRY_MODULE}", description=__doc__)
    parser.add_argument("--options", required=True, help="pinnace up's flags, as JSON (UpOptions)")
    return run(UpOptions.from_json(parser.parse_args(argv).options))


if __name__ == "__main__":
    sys.exit(main())
