"""``pinnace status``/``down``'s side of the daemon module: finding a cluster without loading one."""

from __future__ import annotations

from pathlib import Path

from tests.unit.fresh_interpreter import modules_loaded

from pinnace.cluster import daemon
from pinnace.cluster.security import ADMIN_KUBECONFIG


def test_the_kubeconfig_it_looks_for_is_the_one_the_cluster_writes() -> None:
    assert daemon.KUBECONFIG_FILE == ADMIN_KUBECONFIG


def test_finding_and_stopping_a_cluster_loads_no_server_code(tmp_path: Path) -> None:
    # `pinnace status` and `pinnace down` read a pid file and send a signal: the API server's modules
    # (and cryptography under them) would make each take most of a second.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pinnace.cluster import daemon\n"
        "assert daemon.read_pid_file(Path(sys.argv[1])) is None and daemon.stop(Path(sys.argv[1])) is None\n"
    )
    loaded = modules_loaded(code, str(tmp_path))
    assert not loaded & {"pinnace.apiserver", "pinnace.cluster.local", "cryptography", "aiohttp"}
