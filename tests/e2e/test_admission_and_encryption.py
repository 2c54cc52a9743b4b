"""The real kubectl against ``pinnace up``: a webhook refuses with its message and mutates; Secrets are not
plaintext in the SQLite file; a key rotation followed by a re-encryption lets the old key go."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Cluster, run_pinnace, start_cluster, stop_cluster
from tests.integration.admission.webhook_server import WebhookServer, json_patch

from pinnace.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

Obj = dict[str, Any]


class ThreadedWebhooks:
    """The test webhook server, on its own event loop in a background thread (kubectl blocks this one)."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="webhooks", daemon=True)
        self.thread.start()
        self.server = WebhookServer(tmp_path)
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("admission")
    c = start_cluster(base / "data", base / "home", extra_args=["--controllers", "namespace"])
    try:
        yield c
    finally:
        stop_cluster(c)


@pytest.fixture
def webhooks(tmp_path: Path) -> Iterator[WebhookServer]:
    threaded = ThreadedWebhooks(tmp_path)
    try:
        yield threaded.server
    finally:
        threaded.close()


async def _refuse_labelled(request: Obj) -> Obj:
    if (request["object"]["metadata"].get("labels") or {}).get("tier") == "forbidden":
        return {"allowed": False, "status": {"code": 403, "message": "tier=forbidden is not allowed here"}}
    return {}


async def _stamp(request: Obj) -> Obj:
    return json_patch([{"op": "add", "path": "/metadata/annotations", "value": {"stamped-by": "webhook"}}])


def _configuration(kind: str, name: str, url: str, ca: str) -> Obj:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"{name}.pinnace.test",
                "clientConfig": {"url": url, "caBundle": ca},
                "rules": [
                    {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}
                ],
                "namespaceSelector": {"matchLabels": {"webhooks": "on"}},
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
            }
        ],
    }


def test_a_webhook_denies_with_its_message_and_another_mutates(cluster: Cluster, webhooks: WebhookServer) -> None:
    webhooks.handlers = {"/validate": _refuse_labelled, "/mutate": _stamp}
    cluster.kubectl("create", "namespace", "hooked")
    cluster.kubectl("label", "namespace", "hooked", "webhooks=on")
    for kind, name, path in (
        ("ValidatingWebhookConfiguration", "refuse", "/validate"),
        ("MutatingWebhookConfiguration", "stamp", "/mutate"),
    ):
        manifest = _configuration(kind, name, webhooks.url(path), webhooks.ca_bundle)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "labels": {"tier": "forbidden"}}}
    refused = cluster.kubectl("apply", "-n", "hooked", "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode == 1
    assert (
        'admission webhook "refuse.pinnace.test" denied the request: tier=forbidden is not allowed here'
        in refused.stderr
    )
    assert cluster.kubectl("get", "configmap", "bad", "-n", "hooked", check=False).returncode == 1

    cluster.kubectl("create", "configmap", "good", "-n", "hooked", "--from-literal=k=v")
    stamped = json.loads(cluster.kubectl("get", "configmap", "good", "-n", "hooked", "-o", "json").stdout)
    assert stamped["metadata"]["annotations"] == {"stamped-by": "webhook"}
    cluster.kubectl("create", "configmap", "elsewhere", "-n", "default")  # namespace not selected: no call
    assert [path for path, _ in webhooks.seen] == ["/mutate", "/validate", "/mutate", "/validate"]
    cluster.kubectl("delete", "validatingwebhookconfiguration", "refuse")
    cluster.kubectl("delete", "mutatingwebhookconfiguration", "stamp")


def _store_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("store.db*")))


def test_secret_plaintext_is_nowhere_in_the_sqlite_files(cluster: Cluster) -> None:
    password = f"pw-{secrets.token_hex(12)}"
    cluster.kubectl("create", "secret", "generic", "creds", "-n", "default", f"--from-literal=password={password}")
    got = json.loads(cluster.kubectl("get", "secret", "creds", "-n", "default", "-o", "json").stdout)
    assert base64.b64decode(got["data"]["password"]).decode() == password
    raw = _store_bytes(cluster.data_dir)
    assert b"k8s:enc:aescbc:v1:key1:" in raw
    assert password.encode() not in raw and base64.b64encode(password.encode()) not in raw
    config = yaml.safe_load((cluster.data_dir / "encryption-config.yaml").read_text())
    assert config["kind"] == "EncryptionConfiguration" and config["resources"][0]["resources"] == ["secrets"]


async def _stored(data_dir: Path, key: str) -> bytes:
    store = await SQLiteStore.open(data_dir / "store.db")
    try:
        kv = await store.get(key)
        assert kv is not None
        return kv.value
    finally:
        await store.close()


def test_rotation_then_reencrypt_lets_the_old_key_go(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    cluster = start_cluster(data, home, extra_args=["--controllers", ""])
    try:
        for i in range(3):
            cluster.kubectl("create", "secret", "generic", f"s{i}", "-n", "default", f"--from-literal=v=value-{i}")
    finally:
        stop_cluster(cluster)
    rotated = run_pinnace("adm", "encryption", "rotate-key", "--data-dir", str(data))
    assert rotated.returncode == 0, rotated.stderr
    assert "Added key key2" in rotated.stdout

    cluster = start_cluster(data, home, port=cluster.port, extra_args=["--controllers", ""])
    try:
        done = run_pinnace("adm", "encryption", "reencrypt", "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        assert "secrets: re-encrypted 3, 0 already with the current key" in done.stdout
        # Upstream's way does the same: replacing every Secret with itself (nothing left to rewrite now).
        listed = cluster.kubectl("get", "secrets", "-A", "-o", "json").stdout
        cluster.kubectl("replace", "-f", "-", input=listed)
    finally:
        stop_cluster(cluster)
    for i in range(3):
        assert asyncio.run(_stored(data, f"/registry/core/secrets/default/s{i}")).startswith(b"k8s:enc:aescbc:v1:key2:")

    # Drop key1 (and identity): every Secret still reads.
    path = data / "encryption-config.yaml"
    config = yaml.safe_load(path.read_text())
    aescbc = config["resources"][0]["providers"][0]["aescbc"]
    aescbc["keys"] = [k for k in aescbc["keys"] if k["name"] == "key2"]
    config["resources"][0]["providers"] = config["resources"][0]["providers"][:1]
    path.write_text(yaml.safe_dump(config))
    cluster = start_cluster(data, home, port=cluster.port, extra_args=["--controllers", ""])
    try:
        got = json.loads(cluster.kubectl("get", "secret", "s2", "-n", "default", "-o", "json").stdout)
        assert base64.b64decode(got["data"]["v"]) == b"value-2"
    finally:
        stop_cluster(cluster)


def test_a_bad_encryption_configuration_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "enc.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apiserver.config.k8s.io/v1",
                "kind": "EncryptionConfiguration",
                "resources": [
                    {
                        "resources": ["secrets"],
                        "providers": [{"aesgcm": {"keys": [{"name": "k", "secret": "c2hvcnQ="}]}}],
                    }
                ],
            }
        )
    )
    result = run_pinnace("up", "--data-dir", str(tmp_path / "data"), "--encryption-provider-config", str(bad))
    assert result.returncode == 2
    assert "secret is not of the expected length, got 5, expected one of [16 24 32]" in result.stderr


POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limit}
spec:
  failurePolicy: Fail
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
  - expression: object.spec.replicas <= int(params.data.maxReplicas)
    messageExpression: "'replicas must be at most ' + params.data.maxReplicas"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replica-limit-binding}
spec:
  policyName: replica-limit
  validationActions: [Deny]
  paramRef: {name: replica-limit, namespace: default, parameterNotFoundAction: Deny}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: replica-limit, namespace: default}
data: {maxReplicas: "3"}
"""


def test_a_validating_admission_policy_with_params_refuses_through_kubectl(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=POLICY)
    refused = cluster.kubectl(
        "create", "deployment", "big", "-n", "default", "--image=busybox", "--replicas=5", check=False
    )
    assert refused.returncode == 1
    assert (
        "deployments.apps \"big\" is forbidden: ValidatingAdmissionPolicy 'replica-limit' with binding "
        "'replica-limit-binding' denied request: replicas must be at most 3" in refused.stderr
    )
    cluster.kubectl("create", "deployment", "small", "-n", "default", "--image=busybox", "--replicas=2")
    cluster.kubectl("delete", "validatingadmissionpolicybinding", "replica-limit-binding")
