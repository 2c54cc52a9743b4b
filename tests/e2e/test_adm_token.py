"""``pinnace adm token create|list|delete|generate`` against ``pinnace up``, checked with the real kubectl."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.e2e.conftest import Cluster, run_pinnace

pytestmark = pytest.mark.slow

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")


def adm(cluster: Cluster, *args: str) -> str:
    result = run_pinnace("adm", "token", *args, "--data-dir", str(cluster.data_dir))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_tokens_are_created_listed_and_deleted(cluster: Cluster) -> None:
    generated = run_pinnace("adm", "token", "generate").stdout.strip()
    assert TOKEN.match(generated)

    token = adm(cluster, "create").strip()
    assert TOKEN.match(token)
    token_id, secret = token.split(".")
    stored = json.loads(
        cluster.kubectl("get", "secret", f"bootstrap-token-{token_id}", "-n", "kube-system", "-o", "json").stdout
    )
    data = {k: base64.b64decode(v).decode() for k, v in stored["data"].items()}
    assert stored["type"] == "bootstrap.kubernetes.io/token"
    assert data["token-secret"] == secret and data["usage-bootstrap-signing"] == "true"
    assert data["auth-extra-groups"] == "system:bootstrappers:kubeadm:default-node-token"

    adm(
        cluster,
        "create",
        "abcdef.0123456789abcdef",
        "--ttl",
        "0",
        "--description",
        "for worker-2",
        "--usages",
        "authentication",
    )
    lines = adm(cluster, "list").splitlines()
    assert lines[0].split() == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA", "GROUPS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["abcdef.0123456789abcdef"][1:6] == ["<forever>", "<never>", "authentication", "for", "worker-2"]
    assert rows[token][1] in ("23h", "24h") and rows[token][3] == "authentication,signing"

    taken = run_pinnace("adm", "token", "create", "abcdef.0123456789abcdef", "--data-dir", str(cluster.data_dir))
    assert taken.returncode == 1 and 'a token with id "abcdef" already exists' in taken.stderr
    malformed = run_pinnace("adm", "token", "create", "not-a-token", "--data-dir", str(cluster.data_dir))
    assert malformed.returncode == 1 and 'the bootstrap token "not-a-token" was not of the form' in malformed.stderr

    assert adm(cluster, "delete", "abcdef", token).splitlines() == [
        'bootstrap token "abcdef" deleted',
        f'bootstrap token "{token_id}" deleted',
    ]
    assert "bootstrap-token" not in cluster.kubectl("get", "secrets", "-n", "kube-system").stdout
    missing = run_pinnace("adm", "token", "delete", "abcdef", "--data-dir", str(cluster.data_dir))
    assert missing.returncode == 1 and 'bootstrap token "abcdef" not found' in missing.stderr


def test_the_join_command_pins_the_cluster_ca(cluster: Cluster) -> None:
    line = adm(cluster, "create", "--print-join-command").strip()
    words = line.split()
    assert words[:3] == ["pinnace", "adm", "join"] and words[3] == f"127.0.0.1:{cluster.port}"
    assert words[4] == "--token" and TOKEN.match(words[5]) and words[6] == "--discovery-token-ca-cert-hash"
    ca = x509.load_pem_x509_certificate((cluster.data_dir / "pki" / "ca.crt").read_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert words[7] == "sha256:" + hashlib.sha256(spki).hexdigest()
    adm(cluster, "delete", words[5])
