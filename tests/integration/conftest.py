"""An in-process API server on loopback (SQLite in a temp dir), and clients for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kubernetes.client
import kubernetes.client.rest
import pytest

from pinnace.apiserver.admission.plugins import DEFAULT_PLUGINS
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient
from pinnace.controllers import add_controllers
from pinnace.runtime.manager import Manager
from pinnace.storage.sqlite import SQLiteStore

T = TypeVar("T")


@pytest.fixture
async def api_server(tmp_path: Path) -> AsyncIterator[APIServer]:
    """A started API server listening on a free loopback port."""
    store = await SQLiteStore.open(tmp_path / "store.db")
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()
        await store.close()


@contextlib.asynccontextmanager
async def listening(server: APIServer) -> AsyncIterator[RestClient]:
    """A client of ``server``, listening on a free loopback port until the block ends (then stopped)."""
    await server.listen("127.0.0.1", 0)
    try:
        async with RestClient(server.url) as c:
            yield c
    finally:
        await server.stop()


@pytest.fixture
async def client(api_server: APIServer) -> AsyncIterator[RestClient]:
    """Pinnace's own REST client, pointed at the server."""
    async with RestClient(api_server.url) as c:
        yield c


class ThreadedServer:
    """An API server running on its own event loop in a background thread.

    The official ``kubernetes`` client is synchronous: it blocks the thread
    that calls it, so the server it talks to cannot share that thread's loop.
    :meth:`call` runs a coroutine on the server's loop (to reach its store).
    """

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        """``options``: the APIServer's keyword arguments."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="api-server", daemon=True)
        self._thread.start()
        self.store: SQLiteStore | None = None
        self.server: APIServer = self.call(self._start(tmp_path, options))

    async def _start(self, tmp_path: Path, options: dict[str, Any]) -> APIServer:
        self.store = await SQLiteStore.open(tmp_path / "store.db")
        server = APIServer(self.store, **options)
        await server.listen("127.0.0.1", 0)
        return server

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return self.server.url

    def close(self) -> None:
        """Stop the server, close the store and end the thread."""
        try:
            self.call(self.server.stop())
            if self.store is not None:
                self.call(self.store.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


class ControllerServer(ThreadedServer):
    """A threaded server with kube-apiserver's default admission plugins and, beside it on its loop, a manager
    running the built-in controllers a subclass names in :attr:`controllers`."""

    #: The built-in controllers to run, by name.
    controllers: tuple[str, ...] = ()

    async def _start(self, tmp_path: Path, options: dict[str, Any]) -> APIServer:
        self.store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
        server = APIServer(self.store, admission_plugins=DEFAULT_PLUGINS, **options)
        await server.listen("127.0.0.1", 0)
        self.rest = RestClient(server.url)
        self.manager = Manager(self.rest)
        await add_controllers(self.manager, self.controllers)
        self.manager_task = asyncio.create_task(self.manager.run())
        return server

    async def _stop_manager(self) -> None:
        self.manager.stop()
        await self.manager_task
        await self.rest.close()

    def close(self) -> None:
        """Stop the manager, then the server."""
        self.call(self._stop_manager())
        super().close()


@pytest.fixture
def threaded_server(tmp_path: Path) -> Iterator[ThreadedServer]:
    """An API server on a free loopback port, served from a background thread."""
    ts = ThreadedServer(tmp_path)
    try:
        yield ts
    finally:
        ts.close()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """One threaded API server for a whole test module: for modules of quick checks whose tests each use object
    names of their own and need no fresh state."""
    server = ThreadedServer(tmp_path_factory.mktemp("module"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def module_k8s_client(module_server: ThreadedServer) -> Iterator[kubernetes.client.ApiClient]:
    """The official ``kubernetes`` client, configured for the module's server."""
    with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=module_server.url)) as api_client:
        yield api_client


@pytest.fixture
def k8s_client(threaded_server: ThreadedServer) -> Iterator[kubernetes.client.ApiClient]:
    """The official ``kubernetes`` client, configured for the threaded server."""
    config = kubernetes.client.Configuration(host=threaded_server.url)
    with kubernetes.client.ApiClient(config) as api_client:
        yield api_client


@contextlib.contextmanager
def official_client(server: ThreadedServer) -> Iterator[kubernetes.client.ApiClient]:
    """The official ``kubernetes`` client for ``server``, which is closed afterwards (a fixture's whole life)."""
    try:
        with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=server.url)) as api:
            yield api
    finally:
        server.close()


def eventually(check: Callable[[], T | None], timeout: float = 15.0) -> T:
    """Poll ``check`` (from a test's own thread, e.g. with the official client) until it returns something truthy;
    fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def raw_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One HTTP request as-is (no client-side encoding); the status and the decoded JSON body."""
    request = urllib.request.Request(base_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    return status, json.loads(data) if data else None


def refused_as_invalid(call: Callable[[], Any]) -> dict[str, Any]:
    """The Status of a client call that must fail with 422 Invalid (the test fails if it answers anything else)."""
    with pytest.raises(kubernetes.client.rest.ApiException) as info:
        call()
    status: dict[str, Any] = json.loads(info.value.body)
    assert info.value.status == 422 and status["reason"] == "Invalid", status
    return status


def assert_absent(read: Callable[[], Any]) -> None:
    """A client read that must answer 404: what a refused create must not have stored."""
    with pytest.raises(kubernetes.client.rest.ApiException) as info:
        read()
    assert info.value.status == 404
