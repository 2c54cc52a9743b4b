"""Exec credential plugins: a real script, run as client-go runs it; caching, expiry, 401 re-run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from tests.integration.client.conftest import Serve, unauthorized
from tests.integration.client.plugin import Plugin, environ

from pinnace.api import errors
from pinnace.client.auth import StaticAuth
from pinnace.client.config import load_client_config
from pinnace.client.exceptions import ExecPluginError
from pinnace.client.exec_plugin import ExecAuth, ExecConfig
from pinnace.client.rest import ResourceRef, RestClient

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


class Wall:
    """A wall clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def plugin(tmp_path: Path) -> Plugin:
    return Plugin(tmp_path / "plugin")


def auth_for(plugin: Plugin, wall: Wall | None = None, **env: str) -> ExecAuth:
    config = ExecConfig.from_kubeconfig(plugin.stanza(), "tester")
    return ExecAuth(config, wall=wall or Wall(), environ=environ(**env))


async def test_token_is_cached_without_expiry(plugin: Plugin) -> None:
    auth = auth_for(plugin)
    first = await auth.credentials()
    assert first.headers == {"Authorization": "Bearer token-1"}
    assert await auth.credentials() is first
    assert plugin.runs == 1


async def test_token_is_renewed_at_expiry(plugin: Plugin) -> None:
    wall = Wall()
    auth = auth_for(plugin, wall, EXPIRES="2026-01-01T00:10:00Z")
    assert (await auth.credentials()).headers["Authorization"] == "Bearer token-1"
    wall.now += timedelta(minutes=9, seconds=59)
    assert (await auth.credentials()).headers["Authorization"] == "Bearer token-1"
    assert plugin.runs == 1
    wall.now += timedelta(seconds=1)
    assert (await auth.credentials()).headers["Authorization"] == "Bearer token-2"
    assert plugin.runs == 2


async def test_concurrent_requests_share_one_run(plugin: Plugin) -> None:
    auth = auth_for(plugin)
    answers = await asyncio.gather(*(auth.credentials() for _ in range(8)))
    assert {a.headers["Authorization"] for a in answers} == {"Bearer token-1"}
    assert plugin.runs == 1


async def test_unauthorized_reruns_once_per_stale_credential(plugin: Plugin) -> None:
    auth = auth_for(plugin)
    used = await auth.credentials()
    assert await auth.unauthorized(used)
    assert plugin.runs == 2
    assert await auth.unauthorized(used)  # someone already renewed since ``used``: no new run
    assert plugin.runs == 2
    assert (await auth.credentials()).headers["Authorization"] == "Bearer token-2"


async def test_plugin_gets_args_env_and_exec_info(plugin: Plugin, tmp_path: Path) -> None:
    stanza = plugin.stanza(
        args=["--user", "alice"], env=[{"name": "PLUGIN_REGION", "value": "eu"}], provideClusterInfo=True
    )
    cluster = {
        "server": "https://127.0.0.1:6443",
        "insecure-skip-tls-verify": True,
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"audience": "pinnace"}}],
    }
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"exec": stanza}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    auth = load_client_config(kubeconfig, environ={}).auth_provider()
    assert auth is not None
    await auth.credentials()
    assert (plugin.dir / "runs").read_text() == "--user alice\n"
    seen = plugin.last
    assert seen["env"] == {"PLUGIN_REGION": "eu"}
    assert seen["stdin_tty"] is False
    assert seen["info"] == {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1",
        "spec": {
            "interactive": False,
            "cluster": {
                "server": "https://127.0.0.1:6443",
                "insecure-skip-tls-verify": True,
                "config": {"audience": "pinnace"},
            },
        },
    }


async def test_v1beta1_plugins(plugin: Plugin) -> None:
    stanza = {"command": str(plugin.path), "apiVersion": "client.authentication.k8s.io/v1beta1"}
    auth = ExecAuth(ExecConfig.from_kubeconfig(stanza, "u"), environ=environ())
    assert (await auth.credentials()).headers == {"Authorization": "Bearer token-1"}
    assert plugin.last["info"] == {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {"interactive": False},
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAIL": "1"}, r"executable .*plugin.py failed with exit code 3: plugin says no"),
        (
            {"REPLY_VERSION": "client.authentication.k8s.io/v1beta1"},
            "configured to use API version client.authentication.k8s.io/v1, plugin returned version .*v1beta1",
        ),
        ({"EXPIRES": "tomorrow"}, "invalid expirationTimestamp 'tomorrow'"),
        ({"TOKEN_PREFIX": "", "CERT_FILE": "/dev/null", "KEY_FILE": "/dev/null", "NO_TOKEN": "1"}, "token or cert"),
    ],
)
async def test_plugin_failures_are_explained(plugin: Plugin, env: dict[str, str], message: str) -> None:
    with pytest.raises(ExecPluginError, match=message):
        await auth_for(plugin, **env).credentials()


async def test_missing_plugin_shows_install_hint(tmp_path: Path) -> None:
    stanza = {"command": str(tmp_path / "nope"), "apiVersion": "client.authentication.k8s.io/v1beta1"}
    config = ExecConfig.from_kubeconfig({**stanza, "installHint": "brew install nope"}, "u")
    with pytest.raises(ExecPluginError, match=r"executable .*nope not found\n\nbrew install nope"):
        await ExecAuth(config).credentials()


async def test_always_interactive_needs_a_terminal(plugin: Plugin) -> None:
    config = ExecConfig.from_kubeconfig(plugin.stanza(interactiveMode="Always"), "u")
    with pytest.raises(ExecPluginError, match="standard input is not a terminal"):
        await ExecAuth(config).credentials()
    assert plugin.runs == 0


async def test_401_reruns_the_plugin_and_retries(plugin: Plugin, serve: Serve) -> None:
    """The server accepts only the second token: the first request is answered after one re-run."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer token-2":
            return unauthorized()
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": request.match_info["tail"]}})

    async with serve(handler) as url:
        auth = auth_for(plugin)
        async with RestClient(url, auth=auth) as client:
            obj = await client.get(CONFIGMAPS, "cm", "default")
            assert obj["kind"] == "ConfigMap"
            await client.create(CONFIGMAPS, {"metadata": {"name": "x"}}, "default")
    assert seen == ["Bearer token-1", "Bearer token-2", "Bearer token-2"]
    assert plugin.runs == 2


async def test_401_after_the_rerun_is_an_error(plugin: Plugin, serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return unauthorized("token rejected")

    async with serve(handler) as url, RestClient(url, auth=auth_for(plugin)) as client:
        with pytest.raises(errors.Unauthorized, match="token rejected"):
            await client.get(CONFIGMAPS, "cm", "default")
    assert plugin.runs == 2


async def test_static_credentials_are_not_retried(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return unauthorized()

    async with serve(handler) as url, RestClient(url, auth=StaticAuth({"Authorization": "Bearer x"})) as client:
        with pytest.raises(errors.Unauthorized):
            await client.get(CONFIGMAPS, "cm", "default")
    assert calls == 1
