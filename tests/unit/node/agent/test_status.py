"""Pod status from runtime state: container states, phase, conditions — as the kubelet writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pinnace.node.agent.backoff import CrashBackoff
from pinnace.node.agent.status import pod_phase, pod_status, qos_class
from pinnace.node.cri import ContainerState, ContainerStatus, SandboxConfig, SandboxState, SandboxStatus
from pinnace.runtime.clock import FakeClock

Obj = dict[str, Any]
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T0 = NOW.timestamp() - 60


def pod(policy: str = "Always", inits: int = 0) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "d", "uid": "u"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": [{"name": f"init{i}", "image": "busybox"} for i in range(inits)],
            "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}],
        },
        "status": {"conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "then"}]},
    }


def container(name: str, state: ContainerState, attempt: int = 0, code: int = 0) -> ContainerStatus:
    exited = state == ContainerState.EXITED
    return ContainerStatus(
        id=f"{name}-{attempt}",
        sandbox_id="s",
        name=name,
        attempt=attempt,
        state=state,
        image="busybox",
        created_at=T0 + attempt,
        started_at=T0 + attempt,
        finished_at=T0 + attempt + 1 if exited else 0.0,
        exit_code=code,
        reason=("Completed" if code == 0 else "Error") if exited else "",
    )


SANDBOX = SandboxStatus("s", SandboxConfig("p", "d", "u"), SandboxState.READY, T0, ips=("10.0.0.7",))


def status(p: Obj, *cs: ContainerStatus, waiting: dict[str, tuple[str, str]] | None = None) -> Obj:
    return pod_status(
        p, sandbox=SANDBOX, containers=cs, waiting=waiting or {}, runtime="process", host_ip="127.0.0.2", now=NOW
    )


def conditions(s: Obj) -> dict[str, str]:
    return {c["type"]: c["status"] for c in s["conditions"]}


def test_running_and_ready() -> None:
    s = status(pod(), container("a", ContainerState.RUNNING), container("b", ContainerState.RUNNING))
    assert s["phase"] == "Running"
    assert conditions(s) == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    assert (s["podIP"], s["hostIP"], s["qosClass"]) == ("10.0.0.7", "127.0.0.2", "BestEffort")
    a = s["containerStatuses"][0]
    assert a["containerID"] == "process://a-0" and a["ready"] and a["started"] and a["restartCount"] == 0
    assert "running" in a["state"]
    scheduled = next(c for c in s["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["lastTransitionTime"] == "then"  # kept: its status did not change


def test_one_not_started_yet_is_pending_and_unready() -> None:
    s = status(pod(), container("a", ContainerState.RUNNING))
    assert s["phase"] == "Pending"
    assert s["containerStatuses"][1]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ContainersNotReady",
        "containers with unready status: [b]",
    )


def test_crash_loop_keeps_the_pod_running_with_last_state() -> None:
    waiting = {"b": ("CrashLoopBackOff", "back-off 10s restarting failed container=b pod=p_d(u)")}
    s = status(
        pod(),
        container("a", ContainerState.RUNNING),
        container("b", ContainerState.EXITED, attempt=0, code=1),
        container("b", ContainerState.EXITED, attempt=1, code=2),
        waiting=waiting,
    )
    b = s["containerStatuses"][1]
    assert s["phase"] == "Running"
    assert b["state"]["waiting"]["reason"] == "CrashLoopBackOff" and b["restartCount"] == 1
    assert b["lastState"]["terminated"]["exitCode"] == 2


def test_phases_by_restart_policy() -> None:
    done = (container("a", ContainerState.EXITED, code=0), container("b", ContainerState.EXITED, code=0))
    failed = (container("a", ContainerState.EXITED, code=0), container("b", ContainerState.EXITED, code=3))
    assert status(pod("Never"), *done)["phase"] == "Succeeded"
    assert status(pod("Never"), *failed)["phase"] == "Failed"
    assert status(pod("OnFailure"), *done)["phase"] == "Succeeded"
    assert status(pod("OnFailure"), *failed)["phase"] == "Running"  # it will be restarted
    assert status(pod("Always"), *done)["phase"] == "Running"
    completed = status(pod("Never"), *done)
    ready = next(c for c in completed["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")


def test_init_containers_gate_the_pod() -> None:
    s = status(
        pod(inits=2), container("init0", ContainerState.EXITED, code=0), container("init1", ContainerState.RUNNING)
    )
    assert s["phase"] == "Pending"
    init = next(c for c in s["conditions"] if c["type"] == "Initialized")
    assert (init["status"], init["message"]) == ("False", "containers with incomplete status: [init1]")
    assert s["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert s["initContainerStatuses"][0]["ready"] is True
    failed = status(pod("Never", inits=1), container("init0", ContainerState.EXITED, code=1))
    assert failed["phase"] == "Failed"
    assert pod_phase(pod("Always", inits=1), failed["initContainerStatuses"], failed["containerStatuses"]) == "Pending"


def test_qos_class() -> None:
    both = {"cpu": "1", "memory": "1Gi"}
    assert qos_class({"containers": [{"resources": {"limits": both, "requests": both}}]}) == "Guaranteed"
    assert qos_class({"containers": [{"resources": {"limits": both}}]}) == "Guaranteed"  # requests default to limits
    assert qos_class({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}) == "Burstable"
    assert qos_class({"containers": [{}]}) == "BestEffort"


def test_crash_backoff_doubles_caps_and_resets() -> None:
    clock = FakeClock(wall_start=NOW)
    backoff = CrashBackoff(10, 40, reset_after=600, clock=clock)
    key = ("u", "b")
    now = NOW.timestamp()
    assert backoff.remaining(key, now) == 0  # the first restart is immediate
    backoff.restarted(key, now, ran_for=1)
    assert backoff.remaining(key, now) == 10
    for expected in (20, 40, 40):
        backoff.restarted(key, now, ran_for=1)
        assert backoff.current(key) == expected
    backoff.restarted(key, now, ran_for=601)  # ran long enough: back to the start
    assert backoff.current(key) == 10
    backoff.forget_pod("u")
    assert backoff.remaining(key, now) == 0


def test_readiness_gates() -> None:
    gated = pod()
    gated["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]
    running = (container("a", ContainerState.RUNNING), container("b", ContainerState.RUNNING))
    s = status(gated, *running)
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReadinessGatesNotReady")
    assert conditions(s)["ContainersReady"] == "True"
    gated["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    s = status(gated, *running)
    assert conditions(s)["Ready"] == "True" and conditions(s)["example.com/lb"] == "True"  # kept, not ours


def test_ephemeral_containers_are_reported_apart_never_ready_and_count_for_nothing() -> None:
    p = pod(policy="Never")
    p["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox"}, {"name": "later", "image": "busybox"}]
    running = [container("a", ContainerState.RUNNING), container("b", ContainerState.RUNNING)]
    s = status(p, *running, container("dbg", ContainerState.EXITED, code=3))
    assert s["phase"] == "Running" and conditions(s)["Ready"] == "True"  # a failed debugger fails nothing
    dbg, later = s["ephemeralContainerStatuses"]
    assert dbg["name"] == "dbg" and dbg["ready"] is False and dbg["state"]["terminated"]["exitCode"] == 3
    assert later["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert [c["name"] for c in s["containerStatuses"]] == ["a", "b"]
    s = status(p, *running, container("dbg", ContainerState.RUNNING))
    assert (
        s["ephemeralContainerStatuses"][0]["ready"] is False
        and "running" in s["ephemeralContainerStatuses"][0]["state"]
    )
