"""Validation of Lease (coordination.k8s.io), as upstream's validation package words it.

Upstream 1.32's ``ValidateLeaseSpec``: ``leaseDurationSeconds`` is greater
than 0 and ``leaseTransitions`` not negative when set. Leases are renewed every
few seconds by every node and every leader: the check reads three fields and
builds nothing when they are fine.

``strategy`` and ``preferredHolder`` belong to the CoordinatedLeaderElection
feature, off by default in 1.32: upstream's strategy drops both on create (and
on an update of a Lease that did not have them) before validating, so they
are checked here only where upstream would see them, on an update of a Lease
that already has them (a strategy Kubernetes defines, OldestEmulationVersion,
or a qualified name with a prefix; a preferred holder only with a strategy).
"""

from __future__ import annotations

from typing import Any, TypeGuard

from pinnace.api import names
from pinnace.api.errors import Cause
from pinnace.api.validation.field import NEGATIVE, Validator, forbidden, invalid, not_supported

__all__ = ["VALIDATORS", "drop_disabled_fields", "lease"]

Obj = dict[str, Any]

#: upstream's ``validLeaseStrategies``.
LEASE_STRATEGIES = ("OldestEmulationVersion",)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _strategy(strategy: Any) -> list[Cause]:
    """``ValidateCoordinatedLeaseStrategy`` (its path, ``spec.strategy.strategy``, is upstream's)."""
    path = "spec.strategy.strategy"
    text = strategy if isinstance(strategy, str) else ""
    if "/" not in text:
        return [] if text in LEASE_STRATEGIES else [not_supported(path, text, LEASE_STRATEGIES)]
    return [invalid(path, text, msg) for msg in names.is_qualified_name(text)]


def lease(obj: Obj, old: Obj | None) -> list[Cause]:
    """A Lease's spec: a positive duration, non-negative transitions (and the leader-election fields, see above)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    out: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if _is_int(duration) and duration <= 0:
        out.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if _is_int(transitions) and transitions < 0:
        out.append(invalid("spec.leaseTransitions", transitions, NEGATIVE))
    if old is not None and (spec.get("strategy") is not None or spec.get("preferredHolder") is not None):
        out.extend(_coordinated_fields(spec, old.get("spec")))
    return out


def _coordinated_fields(spec: Obj, old_spec: Any) -> list[Cause]:
    """The fields upstream keeps (and so validates) on update only when the stored Lease has them."""
    old_spec = old_spec if isinstance(old_spec, dict) else {}
    strategy = spec.get("strategy") if old_spec.get("strategy") is not None else None
    holder = spec.get("preferredHolder") if old_spec.get("preferredHolder") is not None else None
    out = _strategy(strategy) if strategy is not None else []
    if holder and not strategy:
        out.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return out


def drop_disabled_fields(obj: Obj, old: Obj | None) -> None:
    """Drop ``strategy`` and ``preferredHolder`` (in place) where upstream's strategy does, with the feature off.

    On create they always go; on update each goes unless the stored Lease
    already has it (upstream keeps a field that is in use, so turning the
    feature off loses no data).
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    old_spec = old.get("spec") if old is not None else None
    old_spec = old_spec if isinstance(old_spec, dict) else {}
    for field in ("strategy", "preferredHolder"):
        if field in spec and old_spec.get(field) is None:
            del spec[field]


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {("coordination.k8s.io", "Lease"): lease}
