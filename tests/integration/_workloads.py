"""What the workload controller tests share: a kubelet simulated by status patches, and event reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.runtime.client import MergePatch

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods")
#: core/v1 Events: what the controllers' recorders write and ``kubectl describe`` lists.
EVENTS = ResourceRef("", "v1", "events")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container(name: str = "app", image: str = "busybox") -> Obj:
    return {"name": name, "image": image}


def template(labels: dict[str, str], *, image: str = "busybox", restart: str | None = None) -> Obj:
    spec: Obj = {"containers": [container(image=image)]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels}, "spec": spec}


async def run_pod(env: TestEnv, name: str, namespace: str = "default", *, ready: bool = True) -> Obj:
    """Do what a kubelet does for a started pod: Running, and Ready if ``ready``."""
    t = now()
    status = {
        "phase": "Running",
        "startTime": t,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            {"type": "Initialized", "status": "True", "lastTransitionTime": t},
            {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": t},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "image": "busybox",
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": t}},
            }
        ],
    }
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
    result: Obj = await env.client.status().patch(pod, MergePatch({"status": status}))
    return result


async def finish_pod(env: TestEnv, name: str, namespace: str = "default", *, exit_code: int = 0) -> Obj:
    """Do what a kubelet does when the pod's container exits: Succeeded (0) or Failed."""
    t = now()
    phase = "Succeeded" if exit_code == 0 else "Failed"
    reason = "Completed" if exit_code == 0 else "Error"
    status = {
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": t},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "image": "busybox",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": t, "finishedAt": t}},
            }
        ],
    }
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
    result: Obj = await env.client.status().patch(pod, MergePatch({"status": status}))
    return result


async def pods(env: TestEnv, selector: str, namespace: str = "default") -> list[Obj]:
    """The pods matching ``selector``, by name."""
    listing = await env.rest.list(PODS, namespace, labelSelector=selector)
    return sorted(listing.get("items") or [], key=lambda p: p["metadata"]["name"])


async def live_pods(env: TestEnv, selector: str, namespace: str = "default") -> list[Obj]:
    """The matching pods that are not being deleted."""
    return [p for p in await pods(env, selector, namespace) if not p["metadata"].get("deletionTimestamp")]


async def event_notes(env: TestEnv, name: str, namespace: str = "default") -> list[tuple[str, str]]:
    """(reason, message) of the events about the object ``name``."""
    listing = await env.rest.list(EVENTS, namespace)
    return [
        (e.get("reason", ""), e.get("message", ""))
        for e in listing.get("items") or []
        if (e.get("involvedObject") or {}).get("name") == name
    ]


#: An expected event: its exact (reason, message), or a test of (reason, message).
EventMatch = tuple[str, str] | Callable[[str, str], bool]


async def recorded(env: TestEnv, name: str, *wanted: EventMatch, namespace: str = "default") -> list[tuple[str, str]]:
    """(reason, message) of the events about ``name``, once every one of ``wanted`` is among them.

    A controller's recorder posts its events in the background, so an event can land after the
    status that caused it is visible; a test that reads events at once races the recorder.
    """

    def found(match: EventMatch, notes: list[tuple[str, str]]) -> bool:
        if isinstance(match, tuple):
            return match in notes
        return any(match(reason, message) for reason, message in notes)

    async def all_there() -> list[tuple[str, str]] | None:
        notes = await event_notes(env, name, namespace)
        return notes if all(found(match, notes) for match in wanted) else None

    result: list[tuple[str, str]] = await env.eventually(all_there)
    return result


async def gone(env: TestEnv, kind: str, name: str, namespace: str = "default") -> bool:
    try:
        await env.client.get(kind, name, namespace)
    except errors.NotFound:
        return True
    return False
