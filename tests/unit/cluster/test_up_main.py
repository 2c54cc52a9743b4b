"""``pinnace up``'s flags as the options of the lean server process (:mod:`pinnace.cluster.up_main`)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from tests.unit.fresh_interpreter import modules_loaded

from pinnace.cli.main import app
from pinnace.cluster.up_main import UpOptions, UpOptionsError

#: ``pinnace up``'s defaults, as the command line parses them.
DEFAULTS = UpOptions(
    data_dir="data",
    port=6443,
    host="127.0.0.1",
    merge_kubeconfig=True,
    log_level="INFO",
    controllers="*",
    sim_nodes=0,
    nodes=1,
    runtime="process",
    config_file=None,
    node_monitor_grace_period=40.0,
    pod_eviction_timeout=300.0,
    store="",
    etcd_cafile=None,
    etcd_certfile=None,
    etcd_keyfile=None,
    encryption_provider_config=None,
    token_auth_file=None,
    apiserver_cert_extra_sans="",
    control_plane_endpoint="",
    service_cluster_ip_range="",
    cluster_cidr="",
    enable_admission_plugins="",
    disable_admission_plugins="",
)


def _parsed_by_pinnace_up(args: list[str]) -> dict[str, Any]:
    """What the real ``pinnace up`` command line makes of ``args`` (its parameters, before it runs)."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    up = group.get_command(typer.Context(group), "up")
    assert up is not None
    return dict(up.make_context("up", args).params)


def test_the_options_travel_as_one_json_document() -> None:
    options = dataclasses.replace(DEFAULTS, store="etcd://127.0.0.1:2379", etcd_cafile="/pki/ca.crt", sim_nodes=3)
    assert UpOptions.from_json(options.to_json()) == options


def test_the_detached_server_gets_flags_that_pinnace_up_parses_back() -> None:
    options = dataclasses.replace(
        DEFAULTS,
        store="etcd://127.0.0.1:2379",
        etcd_cafile="/pki/ca.crt",
        config_file="/etc/cluster.yaml",
        controllers="namespace,gc",
        sim_nodes=2,
        token_auth_file="/tokens.csv",
        apiserver_cert_extra_sans="a.example,10.0.0.1",
        disable_admission_plugins="PodSecurity",
        event_ttl=120.0,
    )
    args = ["--data-dir", options.data_dir, *options.arguments()]  # start_detached adds --data-dir, --port, --host
    params = _parsed_by_pinnace_up(args)
    parsed: dict[str, Any] = {name: str(v) if isinstance(v, Path) else v for name, v in params.items()}
    assert parsed.pop("detach") is False
    assert UpOptions(**parsed) == options  # every flag exists (no --leader-elect, which `up` has not) and round-trips


def test_the_flags_make_the_cluster_config(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    options = dataclasses.replace(
        DEFAULTS,
        data_dir=str(tmp_path / "data"),
        port=7443,
        controllers="namespace",
        sim_nodes=2,
        nodes=3,
        token_auth_file=str(tokens),
        apiserver_cert_extra_sans=" a.example, ,10.0.0.1",
        service_cluster_ip_range="10.100.0.0/16",
        event_ttl=600.0,
    )
    config = options.config()
    assert config.data_dir == tmp_path / "data" and config.port == 7443
    assert config.controller_manager.controllers == ("namespace",) and config.controller_manager.sim_nodes == 2
    assert not config.controller_manager.leader_elect  # the embedded store has one API server
    assert [n.name for n in config.nodes.nodes] == ["node-0", "node-1", "node-2"]
    assert config.security.token_auth_file == tokens
    assert config.security.cert_sans == ("a.example", "10.0.0.1")
    assert config.service_cidr == "10.100.0.0/16"
    assert config.event_ttl == 600.0 and DEFAULTS.config().event_ttl == 3600.0  # kube-apiserver's --event-ttl 1h
    assert not config.store.is_etcd


def test_a_shared_etcd_store_makes_the_controller_manager_elect_a_leader(tmp_path: Path) -> None:
    options = dataclasses.replace(DEFAULTS, data_dir=str(tmp_path), store="etcd://127.0.0.1:2379,127.0.0.2:2379")
    config = options.config()
    assert config.store.etcd_endpoints == ("127.0.0.1:2379", "127.0.0.2:2379")
    assert config.controller_manager.leader_elect


def test_relative_paths_are_the_directory_pinnace_up_ran_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cluster.yaml").write_text("nodes:\n- name: a\n  role: worker\n")
    config = dataclasses.replace(DEFAULTS, data_dir="here", config_file="cluster.yaml").config()
    assert config.data_dir == tmp_path / "here"
    assert [n.name for n in config.nodes.nodes] == ["a"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sim_nodes": -1}, "--sim-nodes must be 0 or more"),
        ({"nodes": -1}, "--nodes must be 0 or more"),
        ({"runtime": "lxc"}, "unknown runtime 'lxc'"),
        ({"controllers": "nope"}, "unknown controller 'nope'"),
        ({"store": "http://127.0.0.1:2379"}, "unsupported store"),
        ({"enable_admission_plugins": "Nope"}, "unknown admission plugin"),
        ({"config_file": "/nonexistent/cluster.yaml"}, "cannot read"),
        ({"event_ttl": -1.0}, "--event-ttl must be 0"),
    ],
)
def test_wrong_flags_are_refused_with_what_is_wrong(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(UpOptionsError, match=message):
        dataclasses.replace(DEFAULTS, data_dir=str(tmp_path), **change).config()  # type: ignore[arg-type]


def test_the_server_entry_point_exits_2_on_wrong_flags(tmp_path: Path) -> None:
    options = dataclasses.replace(DEFAULTS, data_dir=str(tmp_path), sim_nodes=-1)
    done = subprocess.run(
        [sys.executable, "-m", "pinnace.cluster.up_main", "--options", options.to_json()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "error: --sim-nodes must be 0 or more" in done.stderr


def test_the_server_process_does_not_load_the_command_line(tmp_path: Path) -> None:
    # typer (with its vendored click) and the commands' modules would stay resident in the API server for nothing.
    options = dataclasses.replace(DEFAULTS, data_dir=str(tmp_path))
    code = (
        "import sys\n"
        "from pinnace.cluster.up_main import UpOptions\n"
        "import pinnace.cluster.daemon\n"
        "UpOptions.from_json(sys.argv[1]).config()\n"
    )
    loaded = modules_loaded(code, options.to_json())
    command_line = [m for m in loaded if m.split(".")[0] in ("typer", "click", "rich") or m.startswith("pinnace.cli.")]
    assert not command_line and "pinnace.cli" not in loaded


def test_the_command_line_imports_a_command_group_only_when_it_runs() -> None:
    # `pinnace up` parses its flags sooner (before it execs the server), and `pinnace status` does not load
    # aiohttp for `pinnace image`.
    code = (
        "import sys\n"
        "import pinnace.cli.main\n"
        "print(sorted(m for m in ('aiohttp', 'asyncio', 'pinnace.cli.image', 'pinnace.plugins.cli', 'pinnace.cli.adm',"
        " 'pinnace.cluster.controller_manager') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("traced", [False, True])
def test_pinnace_up_becomes_the_server_process_unless_profiled_or_traced(tmp_path: Path, traced: bool) -> None:
    options = dataclasses.replace(DEFAULTS, data_dir=str(tmp_path), sim_nodes=-1)  # the server exits 2 at once
    code = (
        "import sys\n"
        "from pinnace.cluster.up_main import UpOptions, exec_up\n"
        "options = UpOptions.from_json(sys.argv[1])\n"
        "if sys.argv[2] == 'traced':\n"
        "    sys.settrace(lambda *args: None)\n"
        "try:\n"
        "    exec_up(options)\n"
        "except SystemExit as exc:\n"
        "    print('still the same process, exit', exc.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, options.to_json(), "traced" if traced else "plain"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == (0 if traced else 2)
    assert "error: --sim-nodes must be 0 or more" in done.stderr
    assert ("still the same process, exit 2" in done.stdout) is traced  # pdb, coverage or cProfile see the server
