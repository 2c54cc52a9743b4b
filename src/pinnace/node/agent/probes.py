"""The seam between the pod sync loop and a probe manager (liveness, readiness and startup probes).

The agent works without one (:class:`NoProbes`: a running container is
started and ready). A probe manager plugs in by implementing
:class:`ProbeManager` and being passed as ``NodeAgent(..., probes=manager)``,
or set with :meth:`NodeAgent.set_probe_manager` before :meth:`NodeAgent.run`.
The agent calls:

- :meth:`ProbeManager.add_container` when it has started a container (the pod
  object, the container's spec, its runtime ID); probing starts then;
- :meth:`ProbeManager.remove_container` when a container instance has exited,
  is stopped or its pod is gone;
- :meth:`ProbeManager.is_started` / :meth:`ProbeManager.is_ready` whenever it
  computes the pod's status (a container without the probe is started/ready
  as soon as it runs).

The manager calls back through the :class:`ProbeCallbacks` the agent hands it
in :meth:`ProbeManager.bind` (before the first ``add_container``):

- ``on_result_changed(pod_uid)`` when readiness or startup of a container
  changed, so the agent recomputes and writes the pod's status;
- ``on_liveness_failure(pod_uid, container_name, container_id, message)``
  when a liveness (or startup) probe failed ``failureThreshold`` times: the
  agent records the ``Killing`` event ("Container X failed liveness probe,
  will be restarted"), stops the container with the failed probe's
  ``terminationGracePeriodSeconds`` (else the pod's grace period), and the
  restart policy (with CrashLoopBackOff) takes over. The manager records
  the ``Unhealthy`` events itself.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["NoProbes", "ProbeCallbacks", "ProbeManager"]

Obj = dict[str, Any]


class ProbeCallbacks(Protocol):
    """What a probe manager may ask of the agent."""

    def on_result_changed(self, pod_uid: str) -> None:
        """A container's readiness or startup changed: write the pod's status again."""

    def on_liveness_failure(self, pod_uid: str, container_name: str, container_id: str, message: str) -> None:
        """Restart the container (stop it; the restart policy brings it back)."""


class ProbeManager(Protocol):
    """Runs a node's probes (see the module docstring for when the agent calls what)."""

    def bind(self, callbacks: ProbeCallbacks) -> None:
        """Remember whom to tell about results (called once, before any container is added)."""

    def add_container(self, pod: Obj, container: Obj, container_id: str) -> None:
        """Start probing a container instance that has just started."""

    def remove_container(self, container_id: str) -> None:
        """Stop probing a container instance (it exited or was stopped)."""

    def is_started(self, container_id: str) -> bool:
        """Whether the startup probe (if any) has succeeded."""

    def is_ready(self, container_id: str) -> bool:
        """Whether the readiness probe (if any) last succeeded."""

    async def close(self) -> None:
        """Stop every probe (the agent is shutting down)."""


class NoProbes:
    """No probing: a running container is started and ready."""

    def bind(self, callbacks: ProbeCallbacks) -> None:
        """Nothing to bind."""

    def add_container(self, pod: Obj, container: Obj, container_id: str) -> None:
        """Nothing to probe."""

    def remove_container(self, container_id: str) -> None:
        """Nothing to stop."""

    def is_started(self, container_id: str) -> bool:
        """Always started."""
        return True

    def is_ready(self, container_id: str) -> bool:
        """Always ready."""
        return True

    async def close(self) -> None:
        """Nothing to close."""
