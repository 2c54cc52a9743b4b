"""Reading kubectl's output in the e2e tests: parsed JSON, names, table rows."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.e2e.conftest import Cluster


def get_json(cluster: Cluster, *args: str) -> Any:
    """``kubectl get ... -o json``, parsed."""
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def names(cluster: Cluster, *args: str) -> list[str]:
    """The names ``kubectl get ... -o name`` prints (without the ``kind/`` prefix)."""
    return [line.split("/", 1)[1] for line in cluster.kubectl("get", *args, "-o", "name").stdout.split()]


def table(text: str) -> list[list[str]]:
    """kubectl's column output as rows of cells (the header first)."""
    return [line.split() for line in text.splitlines() if line.strip()]


def start_kubectl(cluster: Cluster, *args: str) -> subprocess.Popen[str]:
    """The real kubectl running in the background (a watch, a wait); the caller stops it."""
    return subprocess.Popen(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
