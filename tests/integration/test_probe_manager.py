"""The probe manager's timing and thresholds on a fake clock, probing a real TCP server, with events in the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.ports import free_port
from pinnace.node.probes import NodeProbes, ProbeSpec, ThresholdCounter
from pinnace.node.process import ProcessRuntime
from pinnace.runtime.clock import FakeClock, settle
from pinnace.runtime.events import EventRecorder

EVENTS = ResourceRef("", "v1", "events")


def test_thresholds_need_consecutive_results() -> None:
    counter = ThresholdCounter(ProbeSpec({}, success_threshold=2, failure_threshold=3), initial=False)
    assert [counter.observe(ok) for ok in (True, False, True, True)] == [False, False, False, True]
    assert counter.current is True
    assert [counter.observe(ok) for ok in (False, False, True, False, False, False)] == [False] * 5 + [True]
    assert counter.current is False
    defaults = ProbeSpec.from_api({"tcpSocket": {"port": 1}})
    assert (defaults.period, defaults.timeout, defaults.success_threshold, defaults.failure_threshold) == (10, 1, 1, 3)


@dataclass
class Agent:
    """Records what the manager asks of the agent (the seam's callbacks)."""

    changed: list[str] = field(default_factory=list)
    restarts: list[tuple[str, str, str]] = field(default_factory=list)

    def on_result_changed(self, pod_uid: str) -> None:
        self.changed.append(pod_uid)

    def on_liveness_failure(self, pod_uid: str, container_name: str, container_id: str, message: str) -> None:
        self.restarts.append((container_name, container_id, message))


class Port:
    """A loopback TCP port that can be opened and closed."""

    def __init__(self) -> None:
        self.number = free_port()
        self.server: asyncio.Server | None = None

    async def open(self) -> None:
        self.server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", self.number)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@pytest.fixture
async def probes(client: RestClient, tmp_path: object) -> AsyncIterator[tuple[NodeProbes, FakeClock, Agent]]:
    clock = FakeClock()
    recorder = EventRecorder(client, "kubelet", "node-1", clock=clock, core=True)
    manager = NodeProbes(ProcessRuntime(str(tmp_path)), recorder, clock=clock)
    agent = Agent()
    manager.bind(agent)
    yield manager, clock, agent
    await manager.close()
    await recorder.flush()


def pod(uid: str = "uid-1") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": uid},
        "status": {"podIP": "127.0.0.1"},
    }


async def attempts_done(clock: FakeClock, workers: int) -> None:
    """Wait until every worker has finished its real probe and sleeps on the clock again."""
    for _ in range(500):
        await settle()
        if clock.sleepers >= workers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the probe workers did not come back to sleep")


async def test_readiness_follows_the_port_and_liveness_restarts_after_its_threshold(
    probes: tuple[NodeProbes, FakeClock, Agent], client: RestClient
) -> None:
    manager, clock, agent = probes
    port = Port()
    await port.open()
    check = {"tcpSocket": {"port": port.number}, "periodSeconds": 5, "failureThreshold": 2}
    container = {"name": "web", "readinessProbe": check, "livenessProbe": check}
    manager.add_container(pod(), container, "c1")
    assert not manager.is_ready("c1")  # readiness starts as failure
    await attempts_done(clock, 2)
    assert manager.is_ready("c1") and agent.changed == ["uid-1"]
    await port.close()
    await clock.advance(5)
    await attempts_done(clock, 2)
    assert manager.is_ready("c1") and agent.restarts == []  # one failure is below the threshold
    await clock.advance(5)
    for _ in range(500):
        if agent.restarts and not manager.is_ready("c1"):
            break
        await asyncio.sleep(0.01)
    assert not manager.is_ready("c1") and agent.changed == ["uid-1", "uid-1"]
    assert agent.restarts == [("web", "c1", "Container web failed liveness probe, will be restarted")]
    await manager.recorder.flush()
    events = (await client.list(EVENTS, namespace="default"))["items"]
    messages = {e["message"] for e in events if e["reason"] == "Unhealthy"}
    refused = f"dial tcp 127.0.0.1:{port.number}: connect: connection refused"
    assert messages == {f"Readiness probe failed: {refused}", f"Liveness probe failed: {refused}"}


async def test_startup_gates_the_other_probes_and_initial_delay_skips_early_attempts(
    probes: tuple[NodeProbes, FakeClock, Agent],
) -> None:
    manager, clock, agent = probes
    port = Port()
    startup = {"tcpSocket": {"port": port.number}, "periodSeconds": 1, "failureThreshold": 30}
    readiness = {"tcpSocket": {"port": port.number}, "periodSeconds": 1, "initialDelaySeconds": 4}
    manager.add_container(pod(), {"name": "slow", "startupProbe": startup, "readinessProbe": readiness}, "c2")
    await attempts_done(clock, 2)
    assert not manager.is_started("c2") and not manager.is_ready("c2")
    await port.open()
    try:
        await clock.advance(1)
        await attempts_done(clock, 1)  # startup succeeded: its worker is done
        assert manager.is_started("c2") and not manager.is_ready("c2")
        await clock.advance(1)
        await attempts_done(clock, 1)
        assert not manager.is_ready("c2")  # 2 s since start: readiness still waits for its initial delay
        await clock.advance(2)
        await attempts_done(clock, 1)
        assert manager.is_ready("c2") and agent.restarts == []
    finally:
        await port.close()
    manager.remove_container("c2")
    assert manager.is_ready("c2")  # forgotten: no probe gates it any more
