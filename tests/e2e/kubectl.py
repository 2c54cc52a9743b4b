"""Reading kubectl's output in the e2e tests: parsed JSON, names, table rows; waiting for a condition."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.e2e.conftest import Cluster

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy, and return that; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s (last: {last!r})")


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
