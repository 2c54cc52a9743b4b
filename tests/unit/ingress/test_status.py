"""Which Ingresses get a status write, and what it says."""

from __future__ import annotations

from tests.unit.ingress.objects import Obj, ingress

from pinnace.ingress.status import StatusChange, load_balancer_ingress, status_changes


def with_status(obj: Obj, *entries: Obj) -> Obj:
    obj["status"] = {"loadBalancer": {"ingress": list(entries)}}
    return obj


def test_status_changes() -> None:
    ingresses = [
        ingress("new"),
        with_status(ingress("done"), {"ip": "127.0.0.1"}),
        with_status(ingress("stale"), {"ip": "10.0.0.9"}),
        with_status(ingress("dropped"), {"ip": "127.0.0.1"}),
        with_status(ingress("someone-elses"), {"ip": "192.0.2.1"}),
        ingress("never"),
    ]
    served = ["default/new", "default/done", "default/stale"]
    assert status_changes(ingresses, served, "127.0.0.1") == [
        StatusChange("default", "new", [{"ip": "127.0.0.1"}]),
        StatusChange("default", "stale", [{"ip": "127.0.0.1"}]),
        StatusChange("default", "dropped", None),
    ]


def test_address_kinds() -> None:
    assert load_balancer_ingress("::1") == [{"ip": "::1"}]
    assert load_balancer_ingress("ingress.example.com") == [{"hostname": "ingress.example.com"}]
