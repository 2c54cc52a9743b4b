"""``--controllers`` parsing and the flags a controller manager child is started with."""

from __future__ import annotations

import pytest
from tests.unit.fresh_interpreter import modules_loaded

from pinnace.cluster.controller_manager import ControllerManagerConfig, resolve_controllers
from pinnace.controllers import BUILTIN_CONTROLLERS, DEFAULT_CONTROLLERS


def test_star_means_the_defaults_and_all_means_every_component() -> None:
    assert resolve_controllers("*") == DEFAULT_CONTROLLERS
    assert resolve_controllers("all") == tuple(BUILTIN_CONTROLLERS)


def test_names_are_added_once_in_order_and_a_minus_drops_one() -> None:
    assert resolve_controllers("gc,namespace,gc") == ("gc", "namespace")
    dropped = {"gc", "scheduler"}
    assert resolve_controllers("all,-gc,-scheduler") == tuple(n for n in BUILTIN_CONTROLLERS if n not in dropped)
    assert resolve_controllers("") == ()


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown controller 'replicaset-typo'; known: .*deployment"):
        resolve_controllers("replicaset-typo")
    with pytest.raises(ValueError, match="unknown controller 'nope'"):
        resolve_controllers("all,-nope")


def test_node_lifecycle_gets_its_timeouts_and_the_flags_round_trip() -> None:
    config = ControllerManagerConfig(
        controllers=("nodelifecycle", "gc"), sim_nodes=3, node_monitor_grace_period=4.0, pod_eviction_timeout=2.5
    )
    assert config.options_for("nodelifecycle") == {"grace_period": 4.0, "eviction_timeout": 2.5}
    assert config.options_for("gc") == {}
    args = config.arguments()
    assert args[args.index("--controllers") + 1] == "nodelifecycle,gc"
    assert args[args.index("--sim-nodes") + 1] == "3"
    assert args[args.index("--node-monitor-grace-period") + 1] == "4.0"
    assert "--leader-elect" not in args


def test_the_child_gets_the_whole_configuration_as_json() -> None:
    config = ControllerManagerConfig(
        controllers=("csrsigning", "gc"),
        leader_elect=True,
        lease_duration=7.5,
        cluster_signing_cert_file="/pki/ca.crt",
        cluster_signing_key_file="/pki/ca.key",
        component_options={"gc": {"workers": 2}},
    )
    assert ControllerManagerConfig.from_json(config.to_json()) == config


def test_the_child_entry_point_does_not_load_the_command_line() -> None:
    # typer coerces options through pydantic: together with the other commands, ~12 MB resident the child never uses.
    loaded = modules_loaded("import pinnace.cluster.controller_manager_main")
    assert not loaded & {"typer", "pydantic", "pinnace.cli.main"}


def test_the_default_controllers_do_not_load_cryptography() -> None:
    # cryptography costs the controller manager ~7 MB resident (issue 3's idle RSS figure); the controllers that
    # need it (the CSR signer) import it when they run.
    loaded = modules_loaded(
        "import pinnace.cluster.controller_manager_main\n"
        "from pinnace.controllers import DEFAULT_CONTROLLERS, controller_factory\n"
        "for name in DEFAULT_CONTROLLERS:\n    controller_factory(name)\n"
    )
    assert "cryptography" not in loaded
