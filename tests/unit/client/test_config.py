"""Loading a client configuration from kubeconfig files: merging, context choice, paths, credentials, errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pinnace.client.auth import StaticAuth, TokenFileAuth
from pinnace.client.config import ClientConfig, config_from_kubeconfig, in_cluster_config, load_client_config
from pinnace.client.exceptions import ConfigError, NotInClusterError
from pinnace.client.exec_plugin import ExecAuth
from pinnace.client.loader import Kubeconfig, kubeconfig_paths, load_kubeconfig

Obj = dict[str, Any]


def kubeconfig(
    clusters: dict[str, Obj] | None = None,
    users: dict[str, Obj] | None = None,
    contexts: dict[str, Obj] | None = None,
    current: str | None = None,
) -> Obj:
    """A kubeconfig document from name → body maps."""
    doc: Obj = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in (clusters or {}).items()],
        "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
        "contexts": [{"name": n, "context": c} for n, c in (contexts or {}).items()],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


FILE_A = kubeconfig(
    clusters={"c1": {"server": "https://a1:6443"}, "c2": {"server": "https://a2:6443"}},
    users={"u1": {"token": "token-a"}},
    contexts={
        "ctx1": {"cluster": "c1", "user": "u1", "namespace": "team-a"},
        "shared": {"cluster": "c1", "user": "u1"},
    },
    current="ctx1",
)
FILE_B = kubeconfig(
    clusters={"c1": {"server": "https://b1:6443"}, "c3": {"server": "https://b3:6443"}},
    users={"u1": {"token": "token-b"}, "u3": {"username": "bob", "password": "pw"}},
    contexts={"shared": {"cluster": "c3", "user": "u3"}, "ctx3": {"cluster": "c3", "user": "u3", "namespace": "b-ns"}},
    current="ctx3",
)
FILE_NO_CURRENT = kubeconfig(clusters={"c9": {"server": "https://c9"}})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "a": write(tmp_path / "a.yaml", FILE_A),
        "b": write(tmp_path / "b.yaml", FILE_B),
        "nocurrent": write(tmp_path / "nocurrent.yaml", FILE_NO_CURRENT),
        "empty": write(tmp_path / "empty.yaml", ""),
        "missing": tmp_path / "missing.yaml",
    }


# (KUBECONFIG entries, explicit --kubeconfig, --context) -> (context, server, namespace, token)
SELECTION = [
    pytest.param(["a", "b"], None, None, ("ctx1", "https://a1:6443", "team-a", "token-a"), id="first-current-wins"),
    pytest.param(["b", "a"], None, None, ("ctx3", "https://b3:6443", "b-ns", None), id="order-matters"),
    pytest.param(["a", "b"], None, "ctx3", ("ctx3", "https://b3:6443", "b-ns", None), id="context-from-second-file"),
    pytest.param(["a", "b"], None, "shared", ("shared", "https://a1:6443", "default", "token-a"), id="first-context"),
    pytest.param(["b", "a"], None, "shared", ("shared", "https://b3:6443", "default", None), id="first-context-rev"),
    pytest.param(["b", "a"], None, "ctx1", ("ctx1", "https://b1:6443", "team-a", "token-b"), id="first-cluster-user"),
    pytest.param(["missing", "a"], None, None, ("ctx1", "https://a1:6443", "team-a", "token-a"), id="missing-skipped"),
    pytest.param(["empty", "b"], None, None, ("ctx3", "https://b3:6443", "b-ns", None), id="empty-file-skipped"),
    pytest.param(["nocurrent", "b"], None, None, ("ctx3", "https://b3:6443", "b-ns", None), id="current-from-later"),
    pytest.param(["a", "", "a", "b"], None, None, ("ctx1", "https://a1:6443", "team-a", "token-a"), id="dedup-empty"),
    pytest.param(["a"], "b", None, ("ctx3", "https://b3:6443", "b-ns", None), id="explicit-overrides-env"),
    pytest.param(["a"], "b", "ctx3", ("ctx3", "https://b3:6443", "b-ns", None), id="explicit-with-context"),
]


@pytest.mark.parametrize(("env_files", "explicit", "context", "expected"), SELECTION)
def test_context_selection(
    files: dict[str, Path],
    env_files: list[str],
    explicit: str | None,
    context: str | None,
    expected: tuple[str, str, str, str | None],
) -> None:
    env = {"KUBECONFIG": os.pathsep.join(str(files[f]) if f else "" for f in env_files), "HOME": "/nonexistent"}
    cfg = load_client_config(files[explicit] if explicit else None, context, environ=env)
    assert (cfg.context, cfg.server, cfg.namespace, cfg.token) == expected


def test_default_path_is_home_kube_config(tmp_path: Path) -> None:
    write(tmp_path / ".kube" / "config", FILE_B)
    cfg = load_client_config(environ={"HOME": str(tmp_path)})
    assert (cfg.context, cfg.server) == ("ctx3", "https://b3:6443")
    assert kubeconfig_paths(environ={"HOME": str(tmp_path)}) == [tmp_path / ".kube" / "config"]


def test_kubeconfig_env_replaces_home_config(files: dict[str, Path], tmp_path: Path) -> None:
    write(tmp_path / ".kube" / "config", FILE_B)
    cfg = load_client_config(environ={"HOME": str(tmp_path), "KUBECONFIG": str(files["a"])})
    assert cfg.context == "ctx1"


def test_merged_view_keeps_first_entries(files: dict[str, Path]) -> None:
    kc = load_kubeconfig(environ={"KUBECONFIG": f"{files['a']}{os.pathsep}{files['b']}"})
    assert sorted(kc.clusters) == ["c1", "c2", "c3"]
    assert kc.clusters["c1"]["server"] == "https://a1:6443"
    assert kc.users["u1"] == {"token": "token-a"}
    assert sorted(kc.contexts) == ["ctx1", "ctx3", "shared"]
    assert kc.current_context == "ctx1"
    assert kc.files == [files["a"], files["b"]]


def test_relative_paths_resolve_against_their_own_file(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two" / "deeper"
    write(one / "ca.pem", "CA-ONE")
    write(two / "token", "token-two\n")
    write(
        one / "config",
        kubeconfig(
            clusters={"c": {"server": "https://one", "certificate-authority": "ca.pem"}},
            users={"u": {"exec": {"command": "./bin/plugin", "apiVersion": "client.authentication.k8s.io/v1beta1"}}},
            contexts={"ctx": {"cluster": "c", "user": "u2"}},
            current="ctx",
        ),
    )
    write(
        two / "config",
        kubeconfig(
            users={
                "u2": {"tokenFile": "token", "client-certificate": "../certs/c.pem", "client-key": "/abs/k.pem"},
                "u3": {"exec": {"command": "on-path-plugin"}},
            }
        ),
    )
    kc = load_kubeconfig(environ={"KUBECONFIG": f"{one / 'config'}{os.pathsep}{two / 'config'}"})
    assert kc.clusters["c"]["certificate-authority"] == str(one / "ca.pem")
    assert kc.users["u"]["exec"]["command"] == str(one / "bin" / "plugin")
    assert kc.users["u2"]["tokenFile"] == str(two / "token")
    assert kc.users["u2"]["client-certificate"] == str(two / ".." / "certs" / "c.pem")
    assert kc.users["u2"]["client-key"] == "/abs/k.pem"
    assert kc.users["u3"]["exec"]["command"] == "on-path-plugin"


def test_relative_files_are_read(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "ca.pem", "CA-BYTES")
    write(tmp_path / "conf" / "token", "file-token\n")
    path = write(
        tmp_path / "conf" / "config",
        kubeconfig(
            clusters={"c": {"server": "https://x", "certificate-authority": "ca.pem"}},
            users={"u": {"tokenFile": "token"}},
            contexts={"ctx": {"cluster": "c", "user": "u"}},
            current="ctx",
        ),
    )
    cfg = load_client_config(path, environ={})
    assert cfg.tls.ca == b"CA-BYTES"
    assert cfg.token_file == tmp_path / "conf" / "token"


def _one(cluster: Obj | None = None, user: Obj | None = None, context: Obj | None = None) -> Obj:
    return kubeconfig(
        clusters={"c": {"server": "https://x:6443", **(cluster or {})}},
        users={"u": user or {}},
        contexts={"ctx": {"cluster": "c", "user": "u", **(context or {})}},
        current="ctx",
    )


ERRORS = [
    pytest.param(_one(), "nope", "context 'nope' was not found", id="no-such-context"),
    pytest.param({**_one(), "current-context": ""}, None, "no current-context is set", id="no-current-context"),
    pytest.param("clusters: [unclosed", None, "is not valid YAML", id="invalid-yaml"),
    pytest.param("- just\n- a list\n", None, "expected a mapping", id="not-a-mapping"),
    pytest.param({"clusters": [{"cluster": {}}]}, None, "clusters[0] has no name", id="unnamed-entry"),
    pytest.param(_one(context={"cluster": "gone"}), None, "cluster 'gone' was not found for context", id="no-cluster"),
    pytest.param(_one(context={"user": "gone"}), None, "user 'gone' was not found for context", id="no-user"),
    pytest.param(_one(context={"user": ""}), None, "user was not specified for context", id="user-unset"),
    pytest.param(_one(cluster={"server": ""}), None, "cluster 'c' has no server defined", id="no-server"),
    pytest.param(
        _one(user={"token": "t", "username": "u"}), None, "more than one authentication method", id="token-and-basic"
    ),
    pytest.param(
        _one(cluster={"certificate-authority": "/x", "certificate-authority-data": "eA=="}),
        None,
        "certificate-authority-data and certificate-authority are both specified",
        id="ca-file-and-data",
    ),
    pytest.param(
        _one(cluster={"certificate-authority-data": "eA==", "insecure-skip-tls-verify": True}),
        None,
        "root certificates file with the insecure flag is not allowed",
        id="insecure-with-ca",
    ),
    pytest.param(
        _one(cluster={"certificate-authority": "/no/such/ca.pem"}),
        None,
        "unable to read certificate-authority /no/such/ca.pem",
        id="ca-unreadable",
    ),
    pytest.param(
        _one(cluster={"certificate-authority-data": "not base64!"}), None, "is not valid base64", id="bad-base64"
    ),
    pytest.param(
        _one(user={"client-certificate-data": "eA=="}), None, "client-key-data or client-key must be", id="cert-no-key"
    ),
    pytest.param(_one(user={"tokenFile": "/no/such/token"}), None, "unable to read tokenFile for u", id="no-tokenfile"),
    pytest.param(
        _one(user={"exec": {"command": "p", "apiVersion": "client.authentication.k8s.io/v1"}}),
        None,
        "interactiveMode must be specified for u",
        id="exec-v1-needs-interactive-mode",
    ),
    pytest.param(
        _one(user={"exec": {"command": "p", "apiVersion": "client.authentication.k8s.io/v1alpha1"}}),
        None,
        "unsupported apiVersion",
        id="exec-old-api",
    ),
    pytest.param(
        _one(user={"exec": {"apiVersion": "client.authentication.k8s.io/v1"}}),
        None,
        "command must be specified for u",
        id="exec-no-command",
    ),
    pytest.param(
        _one(user={"auth-provider": {"name": "gcp"}}), None, "auth-provider is not supported", id="auth-provider"
    ),
]


@pytest.mark.parametrize(("doc", "context", "message"), ERRORS)
def test_errors_say_what_is_wrong(tmp_path: Path, doc: Any, context: str | None, message: str) -> None:
    path = write(tmp_path / "config", doc)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_client_config(path, context, environ={})


def test_explicit_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope does not exist"):
        load_client_config(tmp_path / "nope", environ={})


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        load_client_config(tmp_path, environ={})  # a directory


def test_nothing_configured_outside_a_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no configuration has been provided"):
        load_client_config(environ={"HOME": str(tmp_path)})


def test_server_without_scheme() -> None:
    assert _load_one_dict(_one(cluster={"server": "10.0.0.1:6443"})).server == "http://10.0.0.1:6443"
    secure = _one(cluster={"server": "10.0.0.1:6443", "insecure-skip-tls-verify": True})
    assert _load_one_dict(secure).server == "https://10.0.0.1:6443"


def _load_one_dict(doc: Obj, context: str | None = None) -> ClientConfig:
    kc = Kubeconfig(
        clusters={c["name"]: c["cluster"] for c in doc["clusters"]},
        users={u["name"]: u["user"] for u in doc["users"]},
        contexts={c["name"]: c["context"] for c in doc["contexts"]},
        current_context=doc.get("current-context", ""),
    )
    return config_from_kubeconfig(kc, context)


# --- credentials -------------------------------------------------------------------------------


async def test_bearer_token() -> None:
    auth = _load_one_dict(_one(user={"token": "abc"})).auth_provider()
    assert isinstance(auth, StaticAuth)
    assert (await auth.credentials()).headers == {"Authorization": "Bearer abc"}


async def test_basic_auth() -> None:
    auth = _load_one_dict(_one(user={"username": "alice", "password": "s3cret"})).auth_provider()
    assert auth is not None
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert (await auth.credentials()).headers == {"Authorization": expected}


async def test_token_file_wins_over_token_and_falls_back_to_it(tmp_path: Path) -> None:
    token_file = write(tmp_path / "token", "from-file\n")
    auth = _load_one_dict(_one(user={"token": "inline", "tokenFile": str(token_file)})).auth_provider()
    assert isinstance(auth, TokenFileAuth)
    assert (await auth.credentials()).headers == {"Authorization": "Bearer from-file"}
    token_file.unlink()
    assert (await auth.credentials()).headers == {"Authorization": "Bearer from-file"}


async def test_anonymous_and_client_certificate_only_have_no_auth_provider() -> None:
    assert _load_one_dict(_one()).auth_provider() is None
    cfg = _load_one_dict(_one(user={"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}))
    assert (cfg.tls.cert, cfg.tls.key) == (b"cert", b"key")
    assert cfg.auth_provider() is None


EXEC = {"command": "plugin", "apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never"}


def test_exec_plugin_is_used_only_without_other_credentials() -> None:
    assert isinstance(_load_one_dict(_one(user={"exec": EXEC})).auth_provider(), ExecAuth)
    assert isinstance(_load_one_dict(_one(user={"exec": EXEC, "token": "t"})).auth_provider(), StaticAuth)
    v1beta1 = {"command": "plugin", "apiVersion": "client.authentication.k8s.io/v1beta1"}
    cfg = _load_one_dict(_one(user={"exec": v1beta1}))
    assert cfg.exec is not None and cfg.exec.interactive_mode == "IfAvailable"


def test_exec_cluster_info() -> None:
    cluster = {
        "certificate-authority-data": base64.b64encode(b"CA").decode(),
        "tls-server-name": "kubernetes",
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"audience": "x"}}],
    }
    cfg = _load_one_dict(_one(cluster=cluster, user={"exec": {**EXEC, "provideClusterInfo": True}}))
    assert cfg.exec_cluster == {
        "server": "https://x:6443",
        "tls-server-name": "kubernetes",
        "certificate-authority-data": base64.b64encode(b"CA").decode(),
        "config": {"audience": "x"},
    }
    assert _load_one_dict(_one(cluster=cluster, user={"exec": EXEC})).exec_cluster is None


# --- in-cluster --------------------------------------------------------------------------------


@pytest.fixture
def sa_dir(tmp_path: Path) -> Path:
    d = tmp_path / "serviceaccount"
    write(d / "token", "sa-token-1\n")
    write(d / "ca.crt", "CA-PEM")
    write(d / "namespace", "team-x\n")
    return d


IN_CLUSTER_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


async def test_in_cluster(sa_dir: Path) -> None:
    cfg = in_cluster_config(environ=IN_CLUSTER_ENV, service_account_dir=sa_dir)
    assert (cfg.server, cfg.namespace, cfg.tls.ca, cfg.context) == ("https://10.96.0.1:443", "team-x", b"CA-PEM", None)
    auth = cfg.auth_provider()
    assert auth is not None
    assert (await auth.credentials()).headers == {"Authorization": "Bearer sa-token-1"}
    write(sa_dir / "token", "sa-token-rotated\n")
    assert (await auth.credentials()).headers == {"Authorization": "Bearer sa-token-rotated"}


def test_in_cluster_ipv6_and_pod_namespace(sa_dir: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443", "POD_NAMESPACE": "from-env"}
    cfg = in_cluster_config(environ=env, service_account_dir=sa_dir)
    assert (cfg.server, cfg.namespace) == ("https://[fd00::1]:6443", "from-env")


def test_in_cluster_defaults_and_errors(sa_dir: Path) -> None:
    (sa_dir / "namespace").unlink()
    (sa_dir / "ca.crt").unlink()
    cfg = in_cluster_config(environ=IN_CLUSTER_ENV, service_account_dir=sa_dir)
    assert (cfg.namespace, cfg.tls.ca) == ("default", None)
    with pytest.raises(NotInClusterError, match="KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"):
        in_cluster_config(environ={}, service_account_dir=sa_dir)
    (sa_dir / "token").unlink()
    with pytest.raises(ConfigError, match="unable to read the service account token"):
        in_cluster_config(environ=IN_CLUSTER_ENV, service_account_dir=sa_dir)


def test_load_falls_back_to_in_cluster_only_when_nothing_is_configured(sa_dir: Path, files: dict[str, Path]) -> None:
    env = {**IN_CLUSTER_ENV, "HOME": str(sa_dir)}
    assert load_client_config(environ=env, service_account_dir=sa_dir).server == "https://10.96.0.1:443"
    env["KUBECONFIG"] = str(files["a"])
    assert load_client_config(environ=env, service_account_dir=sa_dir).server == "https://a1:6443"
