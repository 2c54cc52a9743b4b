"""A control-plane join's preflight: what it refuses before it talks to the cluster, and the plan it makes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pinnace.adm.config import ClusterConfiguration
from pinnace.adm.join import JoinConfig, JoinError
from pinnace.adm.joincontrolplane import ControlPlaneJoin, join_control_plane


def _request(tmp_path: Path, **fields: object) -> ControlPlaneJoin:
    join = JoinConfig(tmp_path / "cp-2", endpoint="127.0.0.1:1", token="abcdef.0123456789abcdef", node_name="cp-2")
    ports = {}
    for name in ("bind_port", "etcd_client_port", "etcd_peer_port"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports[name] = probe.getsockname()[1]
    return ControlPlaneJoin(join, **{"certificate_key": "ab" * 32, **ports, **fields}, announce=lambda _: None)  # type: ignore[arg-type]


def test_refused_before_discovery(tmp_path: Path) -> None:
    with pytest.raises(JoinError, match="needs --certificate-key"):
        join_control_plane(_request(tmp_path, certificate_key=""))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(JoinError, match=rf"\[ERROR Port-{port}\]: Port {port} is in use"):
            join_control_plane(_request(tmp_path, etcd_peer_port=port))
    (tmp_path / "cp-2").mkdir()
    (tmp_path / "cp-2" / "kubeadm.yaml").write_text("{}")
    with pytest.raises(JoinError, match="already a control plane's"):
        join_control_plane(_request(tmp_path))
    assert sorted(p.name for p in (tmp_path / "cp-2").iterdir()) == ["kubeadm.yaml"]  # nothing else was made


def test_the_plan_is_inits_for_this_node_on_its_own_etcd_member(tmp_path: Path) -> None:
    request = _request(tmp_path, advertise_address="127.0.0.6", bind_port=7443, etcd_client_port=12379)
    plan = request.plan(ClusterConfiguration(control_plane_endpoint="cp.example:6443"))
    assert plan.url == "https://127.0.0.6:7443" and plan.endpoint == "cp.example:6443"
    assert plan.init.node_name == "cp-2" and plan.init.bootstrap_tokens == []
    assert plan.cluster.certificates_dir == str(tmp_path / "cp-2" / "pki")
    assert plan.stacked_etcd and plan.local_etcd().client_url == "https://127.0.0.6:12379"
