"""The benchmark's Widget operator on kopf, written as kopf's documentation writes operators.

For each Widget it creates a ConfigMap of the same name, owned by the Widget
(``kopf.adopt``), and sets ``status.configMap`` to that name. The same operator
is in ``widgets_sdk.py`` for the Pinnace SDK; ``runtime_vs_kopf.py`` runs both.

Run: ``KUBECONFIG=... kopf run --standalone --namespace NS benchmarks/widgets_kopf.py``.
kopf's own defaults are kept (progress in annotations, a sync handler in its
thread pool, the official ``kubernetes`` client for the handler's own calls).
"""

from __future__ import annotations

import functools
from typing import Any

import kopf
import kubernetes

LABELS = {"app.kubernetes.io/managed-by": "widget-operator"}


@functools.cache
def core_api() -> kubernetes.client.CoreV1Api:
    """One API client for all handler calls (its connection pool is reused), made after kopf's login."""
    return kubernetes.client.CoreV1Api()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """No Kubernetes Event per successful handler (kopf < 1.45 posts them by default; the SDK posts none)."""
    settings.posting.level = 40  # logging.ERROR


@kopf.on.create("bench.example.com", "v1", "widgets")
@kopf.on.resume("bench.example.com", "v1", "widgets")
def create_configmap(body: kopf.Body, spec: kopf.Spec, name: str, namespace: str, patch: kopf.Patch, **_: Any) -> None:
    """A ConfigMap per Widget, and the Widget's status naming it."""
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "data": {"size": str(spec.get("size", 1)), "color": str(spec.get("color", "blue"))},
    }
    kopf.adopt(cm, owner=body)
    try:
        core_api().create_namespaced_config_map(namespace, cm)
    except kubernetes.client.ApiException as e:
        if e.status != 409:  # already there from an earlier attempt
            raise
    patch.status["configMap"] = name
