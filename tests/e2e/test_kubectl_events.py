"""The real kubectl 1.32 with Events written through events.k8s.io/v1: ``get events`` and ``describe`` show them.

kubectl reads core/v1 Events (``get events``, and the Events section of
``describe``); a controller written against the newer API writes
events.k8s.io/v1 ones. On kube-apiserver both are one stored object, so the
new-style Event appears in both places — and so it must on Pinnace.
"""

from __future__ import annotations

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json, table

pytestmark = pytest.mark.slow

NS = "events-e2e"


def _event(uid: str, name: str, reason: str, note: str) -> str:
    return f"""
apiVersion: events.k8s.io/v1
kind: Event
metadata: {{name: {name}, namespace: {NS}}}
eventTime: "2024-05-01T10:00:00.000000Z"
reportingController: example.com/checker
reportingInstance: checker-0
action: Checking
reason: {reason}
note: {note}
type: Warning
regarding: {{apiVersion: v1, kind: ConfigMap, name: settings, namespace: {NS}, uid: {uid}}}
"""


def test_events_k8s_io_events_show_in_get_events_and_describe(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("create", "configmap", "settings", "-n", NS, "--from-literal=k=v")
    uid = get_json(cluster, "configmap", "settings", "-n", NS)["metadata"]["uid"]
    out = cluster.kubectl("create", "-f", "-", input=_event(uid, "settings.checked", "Checked", "settings look wrong"))
    assert "event.events.k8s.io/settings.checked created" in out.stdout

    rows = table(cluster.kubectl("get", "events", "-n", NS).stdout)
    assert rows[0][:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    [row] = [r for r in rows[1:] if "Checked" in r]
    assert "Warning" in row and "configmap/settings" in row and " ".join(row).endswith("settings look wrong")

    core = get_json(cluster, "events.v1.", "settings.checked", "-n", NS)
    assert core["apiVersion"] == "v1"
    assert core["involvedObject"]["uid"] == uid and core["message"] == "settings look wrong"
    assert core["reportingComponent"] == "example.com/checker"

    described = cluster.kubectl("describe", "configmap", "settings", "-n", NS).stdout
    events_section = described.split("Events:", 1)[1]
    assert "Warning" in events_section and "Checked" in events_section
    assert "settings look wrong" in events_section
    assert "example.com/checker" in events_section

    # Deleting through the core API removes the events.k8s.io Event too.
    cluster.kubectl("delete", "events.v1.", "settings.checked", "-n", NS)
    assert get_json(cluster, "events.v1.events.k8s.io", "-n", NS)["items"] == []
