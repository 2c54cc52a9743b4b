"""Testing operators without a cluster: envtest's idea, in process, and with controllers.

It lives in ``cluster``, the composition layer beside ``cli`` that puts a
whole cluster together (``pinnace up`` is the other): it wires a server
(storage, apiserver) and controllers for a test, so it may import all of them;
nothing below imports it.

This module is a pytest plugin (registered by the package as ``pinnace``), so
any project that installs Pinnace gets the ``pinnace_env`` fixture::

    async def test_my_operator(pinnace_env):
        mgr = pinnace_env.manager()
        await Builder(mgr).for_("v1/ConfigMap").complete(MyReconciler(mgr.client))
        await pinnace_env.start(mgr)
        await pinnace_env.client.create({...})
        obj = await pinnace_env.eventually(lambda: pinnace_env.client.get(...))

It starts a real Pinnace API server in the test's event loop (SQLite in a
temporary directory, on a free loopback port, in well under a second), and
can install CRDs and start built-in controllers — ``namespace`` and ``gc``
(the garbage collector) — so owned objects and namespaces really go away in
tests, which envtest cannot do. Options come from a marker::

    @pytest.mark.pinnace_env(controllers=["namespace", "gc"], crds=["config/crd/foo.yaml"])

Everything is torn down after the test: managers stopped, server closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from pinnace.api import errors
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.runtime.client import Client
from pinnace.runtime.clock import Clock
from pinnace.runtime.crdgen import CRDS
from pinnace.runtime.manager import Manager, ManagerOptions

if TYPE_CHECKING:
    from pinnace.node.simulated import SimulatedNodes

__all__ = ["CRDS", "TestEnv", "pinnace_env", "start_env"]

Obj = dict[str, Any]


class TestEnv:
    """A running API server and what a test needs to talk to it."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, url: str, rest: RestClient) -> None:
        self.url = url
        self.rest = rest
        self.mapper = RESTMapper(rest)
        #: Reads and writes straight to the API (no cache): what a test checks is what the server has.
        self.client = Client(rest, self.mapper)
        self._managers: list[Manager] = []
        self._manager_tasks: list[asyncio.Task[None]] = []

    def manager(self, options: ManagerOptions | None = None, *, clock: Clock | None = None) -> Manager:
        """A manager on this server (stopped when the test ends)."""
        mgr = Manager(self.rest, options, clock=clock)
        self._managers.append(mgr)
        return mgr

    async def start(self, manager: Manager, *, timeout: float = 10.0) -> None:
        """Run ``manager`` in the background and wait until its cache has synced."""
        if manager not in self._managers:
            self._managers.append(manager)
        task = asyncio.create_task(manager.run(), name="test manager")
        self._manager_tasks.append(task)
        await self.eventually(lambda: manager.cache.synced or task.done(), timeout=timeout)
        if task.done():
            task.result()  # raise what stopped it

    async def install_crds(self, crds: Iterable[Obj | str | Path], *, timeout: float = 10.0) -> list[Obj]:
        """Create CRDs (objects, or YAML files) and wait until each is Established and served."""
        objects: list[Obj] = []
        for item in crds:
            if isinstance(item, dict):
                objects.append(item)
            else:
                objects.extend(d for d in yaml.safe_load_all(Path(item).read_text()) if d)
        created = []
        for crd in objects:
            created.append(await self.rest.create(CRDS, crd))
        for crd in created:
            await self.eventually(functools.partial(self._established, crd["metadata"]["name"]), timeout=timeout)
        await self.mapper.refresh()
        return created

    async def _established(self, name: str) -> bool:
        current = await self.rest.get(CRDS, name)
        conditions = (current.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    async def run_controllers(self, names: Iterable[str]) -> Manager:
        """Start built-in controllers by name (``namespace``, …) in a manager of their own."""
        from pinnace.controllers import add_controllers

        manager = self.manager()
        await add_controllers(manager, names)
        await self.start(manager)
        return manager

    async def run_sim_nodes(self, count: int, manager: Manager | None = None, **options: Any) -> SimulatedNodes:
        """Start ``count`` simulated nodes and wait until they are registered.

        They run in ``manager`` if given (one already started, e.g. by :meth:`run_controllers`, so they
        share its pod informer), else in a manager of their own. ``options`` are
        :func:`~pinnace.node.simulated.add_simulated_nodes`'s (``heartbeat_interval``, ``cpu``, …).
        """
        from pinnace.node.simulated import add_simulated_nodes

        mgr = manager or self.manager()
        sim = await add_simulated_nodes(mgr, count, **options)
        if manager is None:
            await self.start(mgr)
        await sim.wait_registered()
        return sim

    @staticmethod
    async def eventually(check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll ``check`` until it returns something truthy without raising NotFound; its last error on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = check()
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    result = await result
                if result:
                    return result
                problem: BaseException | None = None
            except (errors.NotFound, AssertionError) as exc:
                problem = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s" + (f": {problem}" if problem else ""))
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Stop managers and controllers started through this environment."""
        for mgr in self._managers:
            mgr.stop()
        if self._manager_tasks:
            await asyncio.wait(self._manager_tasks, timeout=15)  # they drain their work, then end
        leftovers = list(self._manager_tasks)
        for task in leftovers:
            task.cancel()
        for task in leftovers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@contextlib.asynccontextmanager
async def start_env(
    directory: Path | None = None,
    *,
    controllers: Iterable[str] = (),
    crds: Iterable[Obj | str | Path] = (),
) -> AsyncIterator[TestEnv]:
    """Start an in-process API server (SQLite under ``directory``) and yield a :class:`TestEnv`."""
    # Imported here: every pytest run in a project with Pinnace installed loads this plugin.
    from pinnace.apiserver.server import APIServer
    from pinnace.storage.sqlite import SQLiteStore

    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pinnace-env-")))
        store = await SQLiteStore.open(directory / "store.db", durable=False)
        server = APIServer(store)
        await server.listen("127.0.0.1", 0)
        rest = RestClient(server.url)
        env = TestEnv(server.url, rest)
        try:
            controllers = list(controllers)
            if controllers:
                await env.run_controllers(controllers)
            crds = list(crds)
            if crds:
                await env.install_crds(crds)
            yield env
        finally:
            await env.close()
            await rest.close()
            await server.stop()
            await store.close()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``pinnace_env`` marker."""
    config.addinivalue_line("markers", "pinnace_env(controllers=[...], crds=[...]): options of the pinnace_env fixture")


@pytest.fixture
async def pinnace_env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestEnv]:
    """A running in-process Pinnace API server with clients (see the module docstring)."""
    marker = request.node.get_closest_marker("pinnace_env")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with start_env(tmp_path, **options) as env:
        yield env
