"""Creating and reconciling the default RBAC policy at server start (upstream's storage post-start hook).

Each object of :mod:`~pinnace.apiserver.authz.policy` that is missing is
created. One that exists is reconciled unless its
``rbac.authorization.kubernetes.io/autoupdate`` annotation is ``"false"``: as
upstream with ``RemoveExtraPermissions: false``, missing labels, annotations,
rules, aggregation selectors and subjects are added and nothing is taken away;
a binding whose roleRef changed is replaced (a roleRef is immutable). Objects
created without the annotation (kubeadm's) are only created, never touched.
Several API servers may run this at once: a lost race (AlreadyExists, Conflict)
is retried on the current state.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Coroutine
from typing import Any

from pinnace.api import errors
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.authz import policy
from pinnace.apiserver.authz.rules import Rule, covers, rules_from
from pinnace.apiserver.rest import DeleteOptions, RestStore

__all__ = ["ensure_bootstrap_policy", "reconcile"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_ATTEMPTS = 5


def reconcile(existing: Obj, expected: Obj) -> Obj | None:
    """The object ``existing`` should become to hold at least ``expected`` (None: leave it as it is)."""
    meta = existing.get("metadata") or {}
    if (meta.get("annotations") or {}).get(policy.AUTOUPDATE) == "false":
        return None
    if policy.AUTOUPDATE not in ((expected.get("metadata") or {}).get("annotations") or {}):
        return None  # created once (kubeadm's), then the cluster's own
    out = copy.deepcopy(existing)
    out_meta = out.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        want = (expected["metadata"].get(field) or {}).items()
        have = out_meta.get(field) or {}
        if any(k not in have for k, _ in want):
            out_meta[field] = {**dict(want), **have}
    kind = expected["kind"]
    if kind in ("Role", "ClusterRole"):
        ok, _ = covers(rules_from(out), rules_from(expected))
        if not ok:
            have_rules = list(out.get("rules") or [])
            held = rules_from(out)
            for rule in expected.get("rules") or []:
                if not covers(held, [Rule.from_json(rule)])[0]:
                    have_rules.append(rule)
            out["rules"] = have_rules
        if "aggregationRule" in expected:
            selectors = list((out.get("aggregationRule") or {}).get("clusterRoleSelectors") or [])
            for selector in expected["aggregationRule"]["clusterRoleSelectors"]:
                if selector not in selectors:
                    selectors.append(selector)
            out["aggregationRule"] = {"clusterRoleSelectors": selectors}
    else:
        subjects = list(out.get("subjects") or [])
        for subject in expected.get("subjects") or []:
            if not any(_same_subject(subject, s) for s in subjects):
                subjects.append(subject)
        if subjects != list(out.get("subjects") or []):
            out["subjects"] = subjects
        if out.get("roleRef") != expected.get("roleRef"):
            out["roleRef"] = expected["roleRef"]
    return out if out != existing else None


def _same_subject(a: Obj, b: Obj) -> bool:
    return all(a.get(k, "") == b.get(k, "") for k in ("kind", "name", "namespace"))


async def _ensure(rest: RestStore, info: ResourceInfo, expected: Obj) -> None:
    meta = expected["metadata"]
    namespace, name = meta.get("namespace"), meta["name"]
    for _ in range(_ATTEMPTS):
        cached = await rest.get_cached(info, namespace, name)
        if cached is None:
            try:
                await rest.create(info, namespace, copy.deepcopy(expected))
                return
            except errors.AlreadyExists:
                continue
        wanted = reconcile(cached.obj, expected)
        if wanted is None:
            return
        try:
            if wanted.get("roleRef") != cached.obj.get("roleRef"):  # immutable: replace the binding
                await rest.delete(info, namespace, name, DeleteOptions())
                wanted["metadata"] = {
                    k: v for k, v in wanted["metadata"].items() if k in ("name", "namespace", "labels", "annotations")
                }
                await rest.create(info, namespace, wanted)
            else:
                await rest.update(info, namespace, name, wanted)
            log.info("reconciled %s %s", expected["kind"], name)
            return
        except (errors.Conflict, errors.AlreadyExists, errors.NotFound):
            continue
    log.warning("could not reconcile %s %s after %d attempts", expected["kind"], name, _ATTEMPTS)


async def ensure_bootstrap_policy(rest: RestStore) -> None:
    """Create the missing default roles and bindings, and reconcile the auto-updated ones."""
    registry = rest.registry
    work: list[Coroutine[Any, Any, None]] = []
    for plural, objects in (
        ("clusterroles", policy.CLUSTER_ROLES),
        ("clusterrolebindings", policy.CLUSTER_ROLE_BINDINGS),
        ("roles", policy.ROLES),
        ("rolebindings", policy.ROLE_BINDINGS),
    ):
        info = registry.get("rbac.authorization.k8s.io", "v1", plural)
        assert info is not None
        work.extend(_ensure(rest, info, obj) for obj in objects)
    # All at once: the store's group commit makes one durable write of many creates (a first start: ~100 objects).
    await asyncio.gather(*work)
