"""What a DELETE asked for: grace period, propagation policy, preconditions and dry run (meta/v1 DeleteOptions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """What a DELETE asked for (from the body or the query)."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False
    #: ``orphanDependents: false`` given explicitly: the one case upstream answers 202 for a pending deletion.
    orphan_dependents_false: bool = False

    def to_json(self) -> Obj:
        """As a meta/v1 DeleteOptions object (what admission plugins and webhooks see)."""
        out: Obj = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
        if self.grace_period_seconds is not None:
            out["gracePeriodSeconds"] = self.grace_period_seconds
        if self.propagation_policy is not None:
            out["propagationPolicy"] = self.propagation_policy
        preconditions = {}
        if self.precondition_uid is not None:
            preconditions["uid"] = self.precondition_uid
        if self.precondition_resource_version is not None:
            preconditions["resourceVersion"] = self.precondition_resource_version
        if preconditions:
            out["preconditions"] = preconditions
        if self.dry_run:
            out["dryRun"] = ["All"]
        return out
