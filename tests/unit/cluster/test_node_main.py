"""The node agent's lean entry point (``python -m pinnace.cluster.node_main``) and ``pinnace node``'s body."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.unit.fresh_interpreter import modules_loaded

from pinnace.adm.nodefiles import NODE_PID_FILE, read_node_flags, read_node_pid, write_node_flags, write_node_pid
from pinnace.cluster.node_main import NodeOptions, NodeOptionsError, run_node
from pinnace.cluster.nodes import NodeLauncher, NodePlacement, NodesConfig, NodeSpec
from pinnace.node.kubeletcert import ensure_serving_cert


def test_the_child_gets_the_whole_configuration_as_json() -> None:
    options = NodeOptions(
        data_dir="/var/lib/node-1",
        node_name="node-1",
        runtime="oci",
        kubelet_port=10250,
        node_labels="tier=apps",
        register_with_taints="dedicated=gpu:NoSchedule",
        stop_pods_on_exit=True,
        proxy_mode="none",
    )
    assert NodeOptions.from_json(options.to_json()) == options


def test_the_launcher_runs_each_agent_by_the_lean_entry_point_where_the_node_lives(tmp_path: Path) -> None:
    spec = NodeSpec("node-0", taints=({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},))
    launcher = NodeLauncher(
        NodesConfig((spec,), backoff_base=0.5), tmp_path, "https://127.0.0.1:6443", log_level="DEBUG"
    )
    place = NodePlacement("10.0.0.2", 10250, pod_cidr="10.244.1.0/24", exec_prefix=("ip", "netns", "exec", "n0"))
    argv = launcher.argv(spec, place, tmp_path / "kubelet.conf")
    assert argv[:6] == ["ip", "netns", "exec", "n0", sys.executable, "-m"]
    assert argv[6] == "pinnace.cluster.node_main"
    assert argv[argv.index("--kubeconfig") + 1] == str(tmp_path / "kubelet.conf")
    assert argv[argv.index("--log-level") + 1] == "DEBUG"
    options = NodeOptions.from_json(argv[argv.index("--config") + 1])
    assert options == launcher.options(spec, place)
    assert (options.node_ip, options.kubelet_port, options.pod_cidr) == ("10.0.0.2", 10250, "10.244.1.0/24")
    assert options.data_dir == str(tmp_path / "nodes" / "node-0")
    assert options.register_with_taints == "dedicated=gpu:NoSchedule"
    assert options.backoff_base == 0.5
    assert options.stop_pods_on_exit  # the node goes away with the cluster
    # A second cluster's node in the host's namespace: its proxy's chains and NodePort addresses reach the agent.
    shared = NodePlacement("127.0.1.2", 10250, proxy_chain_prefix="KUBE1-", nodeport_addresses="127.0.1.0/24")
    options = NodeOptions.from_json((argv := launcher.argv(spec, shared, tmp_path / "k"))[argv.index("--config") + 1])
    assert (options.proxy_chain_prefix, options.nodeport_addresses) == ("KUBE1-", "127.0.1.0/24")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"runtime": "docker"}, "unknown runtime 'docker'"),
        ({"proxy_mode": "ipvs"}, "unknown proxy mode 'ipvs'"),
        ({"register_with_taints": "dedicated=gpu:Sometimes"}, "Sometimes"),
        ({"proxy_chain_prefix": "kube1-"}, "invalid iptables chain prefix 'kube1-'"),
        ({"nodeport_addresses": "127.0.1.0/24,127.0.1.300/24"}, "127.0.1.300/24"),
    ],
)
def test_wrong_options_are_refused_before_the_agent_starts(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(NodeOptionsError, match=message):
        run_node(None, None, NodeOptions(data_dir=str(tmp_path), **options))
    assert not (tmp_path / NODE_PID_FILE).exists()  # nothing ran, so `adm reset` has nothing to stop


def test_a_wrong_configuration_makes_the_child_exit_2(tmp_path: Path) -> None:
    config = NodeOptions(data_dir=str(tmp_path), runtime="docker").to_json()
    done = subprocess.run(
        [sys.executable, "-m", "pinnace.cluster.node_main", "--kubeconfig", "k", "--config", config],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "error: unknown runtime 'docker'" in done.stderr


def test_the_node_files_round_trip(tmp_path: Path) -> None:
    assert read_node_flags(tmp_path) == {}
    assert read_node_pid(tmp_path) is None
    write_node_flags(tmp_path, {"node_name": "worker-1", "kubelet_port": 10251})
    assert read_node_flags(tmp_path) == {"node_name": "worker-1", "kubelet_port": 10251}
    write_node_pid(tmp_path / "new")
    assert read_node_pid(tmp_path / "new") == os.getpid()
    (tmp_path / NODE_PID_FILE).write_text("garbage")
    assert read_node_pid(tmp_path) is None


def test_the_child_entry_point_loads_no_command_line_and_no_cryptography(tmp_path: Path) -> None:
    # typer coerces options through pydantic (5-7 MB), and cryptography is ~14 MB: the launcher makes the node's
    # serving certificate, so an agent that finds it usable never loads cryptography.
    ensure_serving_cert(tmp_path / "pki", "node-0", ["127.0.0.2"])
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import pinnace.cluster.node_main\n"
        "import pinnace.node.agent.agent, pinnace.node.agent.registration, pinnace.node.agent.runtimes\n"
        "import pinnace.node.agent.serve\n"
        "from pinnace.adm.nodefiles import read_node_flags\n"
        "from pinnace.node.kubeletcert import ensure_serving_cert\n"
        "read_node_flags(Path(sys.argv[1]))\n"
        "ensure_serving_cert(Path(sys.argv[1]) / 'pki', 'node-0', ['127.0.0.2'])\n"
    )
    heavy = {"typer", "pydantic", "cryptography", "pinnace.cli.main", "pinnace.adm.join", "pinnace.adm.init"}
    assert not modules_loaded(code, str(tmp_path)) & heavy
