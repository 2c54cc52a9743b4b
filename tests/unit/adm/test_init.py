"""init's plan and its phases on disk: certs and kubeconfig parts, skipped parts, the saved configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from pinnace.adm import init
from pinnace.adm.config import ClusterConfiguration, ConfigError, InitConfiguration


def _plan(tmp_path: Path, **cluster: str) -> init.InitPlan:
    return init.InitPlan(
        tmp_path / "cp",
        InitConfiguration(node_name="cp-1", bind_port=7443, bootstrap_tokens=[{"token": "abcdef.0123456789abcdef"}]),
        ClusterConfiguration(**cluster),  # type: ignore[arg-type]
        up_args=("--runtime=process",),
    )


def test_endpoint_url_and_saved_plan(tmp_path: Path) -> None:
    plan = _plan(tmp_path, control_plane_endpoint="cp.example:443")
    assert plan.url == "https://127.0.0.1:7443" and plan.endpoint == "cp.example:443"
    assert plan.cluster.certificates_dir == str(tmp_path / "cp" / "pki")
    saved = plan.save()
    assert saved.stat().st_mode & 0o777 == 0o600
    assert "abcdef.0123456789abcdef" not in saved.read_text()  # token secrets stay in the cluster
    loaded = init.load_plan(plan.data_dir)
    assert loaded is not None
    assert loaded.cluster.to_document() == plan.cluster.to_document()
    assert (loaded.init.node_name, loaded.init.bind_port, loaded.init.advertise_address) == ("cp-1", 7443, "127.0.0.1")
    assert loaded.up_args == ("--runtime=process",)
    assert init.load_plan(tmp_path / "elsewhere") is None
    assert _plan(tmp_path).endpoint == "127.0.0.1:7443"


def test_certs_and_kubeconfig_parts(tmp_path: Path) -> None:
    plan = _plan(tmp_path, control_plane_endpoint="cp.example:443")
    with pytest.raises(init.InitError, match="run the certs phase first"):
        init.kubeconfig(plan)
    assert init.certs(plan, "ca") == ["ca"]
    assert sorted(p.name for p in (plan.data_dir / "pki").iterdir()) == ["ca.crt", "ca.key"]
    init.certs(plan, "front-proxy-ca")
    init.certs(plan, "sa")
    assert not (plan.data_dir / "pki" / "apiserver.crt").exists()
    init.certs(plan)
    cert = x509.load_pem_x509_certificate((plan.data_dir / "pki" / "apiserver.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert {"cp.example", "cp-1", "kubernetes.default.svc.cluster.local"} <= set(names)
    assert [p.name for p in init.kubeconfig(plan, "scheduler")] == ["scheduler.conf"]
    assert not (plan.data_dir / "admin.conf").exists()
    assert len(init.kubeconfig(plan)) == 4
    with pytest.raises(init.InitError, match="unknown certs phase"):
        init.certs(plan, "etcd")


def test_skipped_parts() -> None:
    assert init._parts_to_run("certs", set()) == ["all"]
    assert init._parts_to_run("certs", {"ca"}) == ["front-proxy-ca", "sa", "all"]
    leafs = {"apiserver", "apiserver-kubelet-client", "front-proxy-client"}
    assert init._parts_to_run("certs", leafs) == ["ca", "front-proxy-ca", "sa"]
    with pytest.raises(ConfigError, match="made together"):
        init._parts_to_run("certs", {"apiserver"})
    assert init._parts_to_run("kubeconfig", {"admin", "super-admin"}) == ["controller-manager", "scheduler"]
    with pytest.raises(ConfigError, match="unknown kubeconfig phases to skip: kubelet"):
        init._parts_to_run("kubeconfig", {"kubelet"})
    with pytest.raises(ConfigError, match="unknown phases to skip: addon"):
        init.run_all(init.InitPlan(Path("/nonexistent")), ["addon"])


def test_stacked_etcd_plan_saves_its_member_and_runs_the_api_server_on_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, control_plane_endpoint="cp.example:443", service_subnet="10.112.0.0/16",
                 pod_subnet="10.150.0.0/16")  # fmt: skip
    plan.etcd, plan.etcd_client_port, plan.etcd_peer_port = "stacked", 12379, 12380
    plan.save()
    loaded = init.load_plan(plan.data_dir)
    assert loaded is not None and loaded.stacked_etcd
    assert (loaded.etcd_client_port, loaded.etcd_peer_port) == (12379, 12380)
    assert loaded.local_etcd().client_url == "https://127.0.0.1:12379"
    args = init.up_arguments(loaded)
    assert "--control-plane-endpoint=cp.example:443" in args and "--store=etcd://127.0.0.1:12379" in args
    assert "--service-cluster-ip-range=10.112.0.0/16" in args and "--cluster-cidr=10.150.0.0/16" in args
    assert args[-1] == "--runtime=process"  # the user's own options last
    made = init.certs(loaded)
    assert "etcd/ca" in made and (plan.data_dir / "pki" / "apiserver-etcd-client.crt").exists()
    cert = x509.load_pem_x509_certificate((plan.data_dir / "pki" / "apiserver.crt").read_bytes())
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert "10.112.0.1" in {str(ip) for ip in ips}  # the kubernetes Service's IP, from the configured range
    assert not init.load_plan(_plan(tmp_path / "sqlite").data_dir)  # nothing saved there
    sqlite = _plan(tmp_path / "sqlite")
    sqlite.save()
    reloaded = init.load_plan(sqlite.data_dir)
    assert reloaded is not None and not reloaded.stacked_etcd
    assert not any(a.startswith("--store") for a in init.up_arguments(reloaded))


def test_the_closing_text_shows_the_control_plane_join_with_the_certificate_key(tmp_path: Path) -> None:
    plan = _plan(tmp_path, control_plane_endpoint="cp.example:443")
    init.certs(plan, "ca")
    assert "--control-plane" not in init.closing_text(plan, "abcdef.0123456789abcdef")
    plan.init.certificate_key = "ab" * 32
    text = init.closing_text(plan, "abcdef.0123456789abcdef")
    assert "join any number of control-plane nodes" in text and "uploaded-certs will be deleted in two hours" in text
    assert f"--control-plane \\\n\t--certificate-key {'ab' * 32}" in text


def test_preflight_checks_the_stacked_etcd_ports(tmp_path: Path) -> None:
    import socket

    plan = _plan(tmp_path)
    plan.etcd = "stacked"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        plan.etcd_peer_port = busy.getsockname()[1]
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            plan.init.bind_port = plan.etcd_client_port = free.getsockname()[1]
        with pytest.raises(init.InitError, match=rf"\[ERROR Port-{plan.etcd_peer_port}\]: Port .* is in use"):
            init.preflight(plan)
        plan.ignore_preflight_errors = (f"Port-{plan.etcd_peer_port}",)
        assert init.preflight(plan) == [f"[WARNING Port-{plan.etcd_peer_port}]: Port {plan.etcd_peer_port} is in use"]


def test_stacked_etcd_from_the_flag_or_a_config_files_etcd_local(tmp_path: Path) -> None:
    import typer

    from pinnace.adm.config import load_documents, parse_config
    from pinnace.cli.adm_init import _etcd_options

    docs = load_documents("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  local: {}\n")
    given = init.InitPlan(tmp_path, *parse_config(docs))
    _etcd_options(given, "", None, None, from_file=True)
    assert given.stacked_etcd  # kubeadm's etcd.local, written in the user's file
    saved = init.InitPlan(tmp_path, *parse_config(docs))
    _etcd_options(saved, "", None, None, from_file=False)
    assert not saved.stacked_etcd  # kubeadm.yaml always prints etcd.local: only the saved choice counts
    flagged = _plan(tmp_path)
    _etcd_options(flagged, "stacked", 12379, 12380, from_file=False)
    assert flagged.stacked_etcd and (flagged.etcd_client_port, flagged.etcd_peer_port) == (12379, 12380)
    external = _plan(tmp_path)
    external.up_args = ("--store=etcd://10.0.0.1:2379",)
    with pytest.raises(typer.Exit):
        _etcd_options(external, "stacked", None, None, from_file=False)
