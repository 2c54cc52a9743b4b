"""Admission webhooks served by the manager: validating, mutating (JSON patch), errors, HTTPS."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from tests.integration.client.pki import CA

from pinnace.runtime.webhook import AdmissionRequest, Denied, WebhookServer, json_patch, mutating, validating


def review(obj: dict[str, Any], operation: str = "CREATE", uid: str = "u-1") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "operation": operation,
            "namespace": "default",
            "name": obj["metadata"]["name"],
            "object": obj,
            "userInfo": {"username": "alice"},
        },
    }


async def no_secrets(request: AdmissionRequest) -> list[str] | None:
    data = (request.object or {}).get("data") or {}
    if "password" in data:
        raise Denied("configmaps must not hold passwords; use a Secret")
    return ["consider labels"] if not (request.object or {}).get("metadata", {}).get("labels") else None


async def add_team(obj: dict[str, Any], request: AdmissionRequest) -> None:
    obj.setdefault("metadata", {}).setdefault("labels", {})["team"] = request.user_info["username"]


async def broken(request: AdmissionRequest) -> list[str] | None:
    raise RuntimeError("bug")


@pytest.fixture
async def server() -> Any:
    srv = WebhookServer("127.0.0.1", 0)
    srv.register("/validate", validating(no_secrets))
    srv.register("/mutate", mutating(add_team))
    srv.register("/broken", validating(broken))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def post(url: str, body: Any, ssl_context: ssl.SSLContext | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=orjson.dumps(body), ssl=ssl_context) as resp:
        text = await resp.read()
        return resp.status, (orjson.loads(text) if resp.content_type == "application/json" else text.decode())


async def test_validating_allows_warns_and_denies(server: WebhookServer) -> None:
    assert server.bound is not None
    url = f"http://127.0.0.1:{server.bound[1]}/validate"
    status, answer = await post(url, review({"metadata": {"name": "ok", "labels": {"a": "b"}}, "data": {"k": "v"}}))
    assert status == 200 and answer["kind"] == "AdmissionReview"
    assert answer["response"] == {"uid": "u-1", "allowed": True}
    _, answer = await post(url, review({"metadata": {"name": "bare"}}))
    assert answer["response"]["allowed"] is True and answer["response"]["warnings"] == ["consider labels"]
    _, answer = await post(url, review({"metadata": {"name": "bad"}, "data": {"password": "x"}}, uid="u-2"))
    assert answer["response"]["uid"] == "u-2" and answer["response"]["allowed"] is False
    assert answer["response"]["status"] == {
        "code": 403,
        "message": "configmaps must not hold passwords; use a Secret",
        "reason": "Forbidden",
    }


async def test_mutating_answers_with_a_json_patch(server: WebhookServer) -> None:
    assert server.bound is not None
    status, answer = await post(f"http://127.0.0.1:{server.bound[1]}/mutate", review({"metadata": {"name": "m"}}))
    response = answer["response"]
    assert status == 200 and response["allowed"] is True and response["patchType"] == "JSONPatch"
    patch = orjson.loads(base64.b64decode(response["patch"]))
    assert patch == [{"op": "add", "path": "/metadata/labels", "value": {"team": "alice"}}]


async def test_a_failing_handler_is_answered_not_dropped(server: WebhookServer) -> None:
    assert server.bound is not None
    port = server.bound[1]
    _, answer = await post(f"http://127.0.0.1:{port}/broken", review({"metadata": {"name": "x"}}))
    assert answer["response"]["allowed"] is False and answer["response"]["status"]["code"] == 500
    status, text = await post(f"http://127.0.0.1:{port}/validate", {"not": "a review"})
    assert status == 400 and "no request" in text


async def test_https_with_a_certificate(tmp_path: Path) -> None:
    ca = CA()
    leaf = ca.issue("webhook", server=True, sans=("127.0.0.1",))
    (tmp_path / "tls.crt").write_bytes(leaf.cert)
    (tmp_path / "tls.key").write_bytes(leaf.key)
    srv = WebhookServer("127.0.0.1", 0, cert_file=str(tmp_path / "tls.crt"), key_file=str(tmp_path / "tls.key"))
    srv.register("/validate", validating(no_secrets))
    await srv.start()
    try:
        assert srv.bound is not None
        client_ctx = ssl.create_default_context(cadata=ca.pem.decode())
        status, answer = await post(
            f"https://127.0.0.1:{srv.bound[1]}/validate", review({"metadata": {"name": "t"}}), client_ctx
        )
        assert status == 200 and answer["response"]["allowed"] is True
    finally:
        await srv.stop()


async def test_runs_as_a_manager_runnable_without_leader_election(client: Any) -> None:
    from pinnace.runtime.manager import Manager, ManagerOptions

    srv = WebhookServer("127.0.0.1", 0)
    srv.register("/validate", validating(no_secrets))
    manager = Manager(client, ManagerOptions(leader_election=True, leader_election_id="wh", identity="a"))
    manager.add(srv)
    task = asyncio.create_task(manager.run())
    try:
        for _ in range(200):
            if srv.bound is not None:
                break
            await asyncio.sleep(0.01)
        assert srv.bound is not None, "the webhook server must start without waiting for leadership"
    finally:
        manager.stop()
        await asyncio.wait_for(task, 10)


def test_json_patch_diff() -> None:
    before = {"a": 1, "b": {"c": [1, 2]}, "d/e": "x", "gone": True}
    after = {"a": 2, "b": {"c": [1, 2, 3]}, "d/e": "x", "new": None}
    assert json_patch(before, after) == [
        {"op": "remove", "path": "/gone"},
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "replace", "path": "/b/c", "value": [1, 2, 3]},
        {"op": "add", "path": "/new", "value": None},
    ]
    assert json_patch({"x": 1}, {"x": 1.0}) == [{"op": "replace", "path": "/x", "value": 1.0}]
