"""Our loader and the official ``kubernetes`` client read the same multi-file KUBECONFIG the same way.

Both let the first file that names a cluster, user or context win. They
differ on ``current-context`` when several files set it (client-go and we
take the first, the Python client the last), so only the first file sets it
here; the explicit contexts exercise the rest of the merge.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest
import yaml

from pinnace.client.config import load_client_config


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def kubeconfig_env(tmp_path: Path) -> str:
    """Three files in three directories, with overlapping names and relative CA paths."""
    for name in ("one", "two", "three"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ca.crt").write_text(f"CA of {name}\n")
    one = _write(
        tmp_path / "one" / "config",
        {
            "clusters": [
                {"name": "prod", "cluster": {"server": "https://prod-1:6443", "certificate-authority": "ca.crt"}}
            ],
            "users": [{"name": "admin", "user": {"token": "admin-1"}}],
            "contexts": [
                {"name": "prod", "context": {"cluster": "prod", "user": "admin", "namespace": "apps"}},
                {"name": "mixed", "context": {"cluster": "dev", "user": "admin"}},
            ],
            "current-context": "prod",
        },
    )
    two = _write(
        tmp_path / "two" / "config",
        {
            "clusters": [
                {"name": "prod", "cluster": {"server": "https://prod-2:6443"}},
                {"name": "dev", "cluster": {"server": "https://dev-2:6443", "certificate-authority": "ca.crt"}},
            ],
            "users": [{"name": "admin", "user": {"token": "admin-2"}}, {"name": "dev", "user": {"token": "dev-2"}}],
            "contexts": [
                {"name": "mixed", "context": {"cluster": "prod", "user": "dev"}},
                {"name": "dev", "context": {"cluster": "dev", "user": "dev", "namespace": "sandbox"}},
            ],
        },
    )
    three = _write(
        tmp_path / "three" / "config",
        {
            "clusters": [
                {"name": "edge", "cluster": {"server": "https://edge-3:443", "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "dev", "user": {"token": "dev-3"}}, {"name": "edge", "user": {"token": "edge-3"}}],
            "contexts": [{"name": "edge", "context": {"cluster": "edge", "user": "edge"}}],
        },
    )
    return os.pathsep.join([str(one), str(tmp_path / "missing"), str(two), str(three)])


@pytest.mark.parametrize("context", [None, "prod", "mixed", "dev", "edge"])
def test_same_context_cluster_and_user(kubeconfig_env: str, context: str | None) -> None:
    theirs = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=kubeconfig_env, context=context, client_configuration=theirs, persist_config=False
    )
    contexts, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig_env)
    chosen = active if context is None else next(c for c in contexts if c["name"] == context)

    ours = load_client_config(context=context, environ={"KUBECONFIG": kubeconfig_env})

    assert ours.context == chosen["name"]
    assert ours.server == theirs.host
    assert ours.namespace == (chosen["context"].get("namespace") or "default")
    assert f"Bearer {ours.token}" == theirs.api_key["BearerToken"]
    assert ours.tls.insecure == (not theirs.verify_ssl)
    their_ca = Path(theirs.ssl_ca_cert).read_bytes() if theirs.ssl_ca_cert else None
    assert ours.tls.ca == their_ca
