"""Health endpoints with upstream's check names, so probes written for kube-apiserver find them."""

from __future__ import annotations

import aiohttp

from pinnace.apiserver.server import APIServer


async def test_checks_have_upstreams_names(api_server: APIServer) -> None:
    async with aiohttp.ClientSession() as http:

        async def get(path: str) -> tuple[int, str]:
            async with http.get(api_server.url + path) as resp:
                return resp.status, await resp.text()

        status, text = await get("/livez?verbose")
        assert status == 200
        assert text.splitlines()[:3] == ["[+]ping ok", "[+]log ok", "[+]etcd ok"]
        status, text = await get("/readyz?verbose")
        assert status == 200
        assert [line for line in text.splitlines() if "etcd" in line or "informer" in line] == [
            "[+]etcd ok",
            "[+]etcd-readiness ok",
            "[+]informer-sync ok",
        ]
        for path in ("/livez/etcd", "/healthz/etcd", "/readyz/etcd", "/readyz/etcd-readiness"):
            assert await get(path) == (200, "ok"), path
        assert (await get("/readyz?exclude=etcd-readiness&verbose"))[1].count("[+]etcd-readiness excluded: ok") == 1
        assert (await get("/livez/storage"))[0] == 404  # the old name is gone
