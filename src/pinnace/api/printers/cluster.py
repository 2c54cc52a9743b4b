"""Printers for networking.k8s.io, coordination.k8s.io, discovery.k8s.io,
rbac.authorization.k8s.io and events.k8s.io, after upstream ``printers.go``.

Roles and ClusterRoles have no printer upstream: they get the default
convertor (NAME, CREATED AT), as do CRDs and LimitRanges.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pinnace.api.printers._common import (
    NONE,
    UNSET,
    Column,
    Obj,
    Printer,
    age_col,
    col,
    doc,
    format_label_selector,
    has,
    i,
    lst,
    m,
    meta_age,
    name_col,
    name_of,
    s,
)
from pinnace.api.printers.core import EVENT_COLUMNS, event_cells, load_balancer_ingress

# --- networking.k8s.io ------------------------------------------------------------


def _ingress_columns() -> list[Column]:
    return [
        name_col(),
        col(
            "Class",
            desc="The name of the IngressClass resource that should be used for additional configuration",
        ),
        col("Hosts", desc="Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", desc="Address is a list containing ingress points for the load-balancer"),
        col("Ports", desc="Ports of TLS configurations that open"),
        age_col(),
    ]


def format_hosts(rules: list[Any]) -> str:
    """``formatHosts``: up to three rule hosts, ``*`` when none."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and s(rule, "host"):
            hosts.append(s(rule, "host"))
    if not hosts:
        return "*"
    ret = ",".join(hosts)
    return f"{ret} + {len(rules) - 3} more..." if more else ret


def _ingress_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    return [
        name_of(obj),
        s(spec, "ingressClassName", NONE),
        format_hosts(lst(spec, "rules")),
        load_balancer_ingress(m(m(obj, "status"), "loadBalancer")),
        "80, 443" if lst(spec, "tls") else "80",
        meta_age(obj, now),
    ]


def _ingress_class_columns() -> list[Column]:
    return [
        name_col(),
        col("Controller", desc="Controller that is responsible for handling this class"),
        col("Parameters", desc="A reference to a resource with additional parameters"),
        age_col(),
    ]


def _ingress_class_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    parameters = NONE
    if has(spec, "parameters"):
        p = m(spec, "parameters")
        parameters = s(p, "kind")
        if has(p, "apiGroup"):
            parameters += "." + s(p, "apiGroup")
        parameters += "/" + s(p, "name")
    return [name_of(obj), s(spec, "controller"), parameters, meta_age(obj, now)]


def _network_policy_columns() -> list[Column]:
    return [
        name_col(),
        col("Pod-Selector", desc=doc("io.k8s.api.networking.v1.NetworkPolicySpec", "podSelector")),
        age_col(),
    ]


def _network_policy_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), format_label_selector(m(m(obj, "spec"), "podSelector")), meta_age(obj, now)]


# --- coordination, discovery ------------------------------------------------------


def _lease_columns() -> list[Column]:
    return [
        name_col(),
        col("Holder", desc=doc("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")),
        age_col(),
    ]


def _lease_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), s(m(obj, "spec"), "holderIdentity"), meta_age(obj, now)]


def _list_with_more(items: list[str], count: int) -> str:
    """``listWithMoreString`` over the first three of ``count`` items; ``<unset>`` if none."""
    ret = ",".join(items[:3])
    if count > 3:
        return f"{ret} + {count - 3} more..."
    return ret or UNSET


def _endpoint_slice_columns() -> list[Column]:
    es = "io.k8s.api.discovery.v1.EndpointSlice"
    return [
        name_col(),
        col("AddressType", desc=doc(es, "addressType")),
        col("Ports", desc=doc(es, "ports")),
        col("Endpoints", desc=doc(es, "endpoints")),
        age_col(),
    ]


def _endpoint_slice_row(obj: Obj, now: datetime) -> list[Any]:
    ports: list[str] = []
    for p in lst(obj, "ports"):
        if isinstance(p.get("port"), int):
            ports.append(str(p["port"]))
        elif isinstance(p.get("name"), str):
            ports.append(p["name"])
        else:
            ports.append("*")
    addresses = [str(a) for ep in lst(obj, "endpoints") for a in lst(ep, "addresses")]
    return [
        name_of(obj),
        s(obj, "addressType"),
        _list_with_more(ports, len(ports)),
        _list_with_more(addresses, len(addresses)),
        meta_age(obj, now),
    ]


# --- rbac -------------------------------------------------------------------------


def _binding_columns(what: str) -> Any:
    def columns() -> list[Column]:
        return [
            name_col(),
            col("Role", desc=doc(f"io.k8s.api.rbac.v1.{what[0].upper()}{what[1:]}", "roleRef")),
            age_col(),
            col("Users", desc=f"Users in the {what}", priority=1),
            col("Groups", desc=f"Groups in the {what}", priority=1),
            col("ServiceAccounts", desc=f"ServiceAccounts in the {what}", priority=1),
        ]

    return columns


def _binding_row(obj: Obj, now: datetime) -> list[Any]:
    ref = m(obj, "roleRef")
    users: list[str] = []
    groups: list[str] = []
    sas: list[str] = []
    for subj in lst(obj, "subjects"):
        kind = s(subj, "kind")
        if kind == "ServiceAccount":
            sas.append(f"{s(subj, 'namespace')}/{s(subj, 'name')}")
        elif kind == "User":
            users.append(s(subj, "name"))
        elif kind == "Group":
            groups.append(s(subj, "name"))
    return [
        name_of(obj),
        f"{s(ref, 'kind')}/{s(ref, 'name')}",
        meta_age(obj, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(sas),
    ]


# --- events.k8s.io ----------------------------------------------------------------


def _events_v1_row(ev: Obj, now: datetime) -> list[Any]:
    """An events.k8s.io Event printed as the core Event it is stored as."""
    return event_cells(
        ev,
        m(ev, "regarding"),
        m(ev, "deprecatedSource"),
        s(ev, "note"),
        ev.get("deprecatedFirstTimestamp"),
        ev.get("deprecatedLastTimestamp"),
        i(ev, "deprecatedCount"),
        now,
    )


PRINTERS: dict[tuple[str, str], Printer] = {
    ("networking.k8s.io", "Ingress"): Printer(_ingress_columns, _ingress_row),
    ("networking.k8s.io", "IngressClass"): Printer(_ingress_class_columns, _ingress_class_row),
    ("networking.k8s.io", "NetworkPolicy"): Printer(_network_policy_columns, _network_policy_row),
    ("coordination.k8s.io", "Lease"): Printer(_lease_columns, _lease_row),
    ("discovery.k8s.io", "EndpointSlice"): Printer(_endpoint_slice_columns, _endpoint_slice_row),
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(_binding_columns("roleBinding"), _binding_row),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(_binding_columns("clusterRoleBinding"), _binding_row),
    ("events.k8s.io", "Event"): Printer(EVENT_COLUMNS, _events_v1_row),
}
"""Cluster-level printers by (group, kind)."""
