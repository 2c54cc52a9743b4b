"""kopf, the peer operator framework, runs against a real ``pinnace up``: real-client proof of compatibility.

A tiny kopf operator (``kopf run`` in its own process, with the kubeconfig
``pinnace up`` wrote) handles a Widget's whole life: on create it makes an
owned ConfigMap, sets ``status`` and posts an Event; its delete handler means
a finalizer that kopf adds with a JSON patch (with a ``test`` of the
resourceVersion) and removes when the Widget is deleted.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

OPERATOR = """
import kopf
import kubernetes


@kopf.on.create("bench.example.com", "v1", "widgets")
def create_fn(body, spec, name, namespace, patch, **_):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"size": str(spec["size"])}}
    kopf.adopt(cm, owner=body)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, cm)
    kopf.info(body, reason="Made", message=f"configmap {name}")
    patch.status["configMap"] = name


@kopf.on.delete("bench.example.com", "v1", "widgets")
def delete_fn(name, logger, **_):
    logger.info("widget %s goes", name)
"""

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.bench.example.com"},
    "spec": {
        "group": "bench.example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}
WIDGETS = "/apis/bench.example.com/v1/namespaces/default/widgets"


def call(cluster: Cluster, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPSConnection("127.0.0.1", cluster.port, timeout=10, context=cluster.ssl_context())
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def eventually(check: Callable[[], Any], what: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()) is not None:
            return value
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (kopf exited: {proc.poll()})")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = start_cluster(tmp_path / "data", tmp_path / "home")
    try:
        yield c
    finally:
        stop_cluster(c)


def test_a_kopf_operator_reconciles_a_custom_resource(cluster: Cluster, tmp_path: Path) -> None:
    status, answer = call(cluster, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    assert status == 201, answer
    eventually(lambda: call(cluster, "GET", WIDGETS)[0] == 200 or None, "the CRD served", cluster.proc)  # type: ignore[arg-type]
    operator = tmp_path / "widget_operator.py"  # not operator.py: it would shadow the stdlib module
    operator.write_text(OPERATOR)
    log = tmp_path / "kopf.log"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": cluster.env["HOME"]}
    cmd = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default", str(operator)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        widget = {"apiVersion": "bench.example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}}
        status, answer = call(cluster, "POST", WIDGETS, {**widget, "spec": {"size": 3}})
        assert status == 201, answer
        uid = answer["metadata"]["uid"]

        def reconciled() -> dict[str, Any] | None:
            obj = call(cluster, "GET", f"{WIDGETS}/w1")[1]
            return obj if (obj.get("status") or {}).get("configMap") == "w1" else None

        obj = eventually(reconciled, "status.configMap set", proc)
        assert "kopf.zalando.org/KopfFinalizerMarker" in obj["metadata"]["finalizers"]
        status, cm = call(cluster, "GET", "/api/v1/namespaces/default/configmaps/w1")
        assert status == 200 and cm["data"] == {"size": "3"}
        [owner] = cm["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Widget", "w1", uid, True)

        def made_event() -> bool | None:  # kopf posts its events from a queue of its own, not with the status patch
            events = call(cluster, "GET", "/api/v1/namespaces/default/events")[1]["items"]
            return any(e["reason"] == "Made" and e["involvedObject"]["uid"] == uid for e in events) or None

        eventually(made_event, "the handler's event posted", proc)

        # Deleting: the finalizer holds the widget until kopf's delete handler ran and removed it.
        status, answer = call(cluster, "DELETE", f"{WIDGETS}/w1")
        assert status in (200, 202), answer
        eventually(lambda: call(cluster, "GET", f"{WIDGETS}/w1")[0] == 404 or None, "the widget gone", proc)  # type: ignore[arg-type]
        text = log.read_text(errors="replace")
        assert "Handler 'delete_fn' succeeded" in text, text[-3000:]
        for bad in ("Traceback", "Patching failed", "APIClientError", "APIServerError"):
            assert bad not in text, text[-3000:]
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- kopf's log ---\n{log.read_text(errors='replace')[-3000:]}") from None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
