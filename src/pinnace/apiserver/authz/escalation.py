"""Escalation prevention: no one grants, through a role or a binding, more than they hold.

Upstream's RBAC storage rules, as store hooks on the four RBAC kinds:

- creating or updating a Role/ClusterRole whose rules the user does not all hold
  (in the role's namespace) needs the ``escalate`` verb on it;
- creating or updating a binding needs ``bind`` on the role it refers to, or
  holding every rule of that role (in the binding's namespace).

``system:masters`` may do either. A refusal is upstream's 403: ``user "bob"
(groups=[…]) is attempting to grant RBAC permissions not currently held:`` and
the missing rules, one per line. With authentication off (no user) nothing is
checked. Every write (and delete) also tells the RBAC authorizer to catch up
before its next decision.
"""

from __future__ import annotations

from typing import Any

from pinnace.api import errors
from pinnace.apiserver.authz.rbac import RBAC_GROUP, RBACAuthorizer
from pinnace.apiserver.authz.rules import Rule, compact_string, covers, rules_from
from pinnace.apiserver.rest import Finish
from pinnace.apiserver.user import MASTERS, Attributes, Authorizer, Decision, UserInfo, current_user

__all__ = ["RBACStorageHooks", "confirm_no_escalation"]

Obj = dict[str, Any]


def _go_quoted(values: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


async def confirm_no_escalation(
    rbac: RBACAuthorizer, user: UserInfo, namespace: str, rules: tuple[Rule, ...], resource: str, name: str
) -> None:
    """Raise upstream's Forbidden unless ``user`` holds every one of ``rules`` in ``namespace``."""
    held, errs = await rbac.rules_for(user, namespace)
    ok, missing = covers([r.rule for r in held], rules)
    if ok:
        return
    message = (
        f'user "{user.name}" (groups={_go_quoted(user.groups)}) is attempting to grant RBAC permissions '
        "not currently held:\n" + "\n".join(compact_string(r) for r in missing)
    )
    if errs:
        message += "; resolution errors: [" + ", ".join(errs) + "]"
    raise errors.Forbidden(
        f'{resource}.{RBAC_GROUP} "{name}" is forbidden: {message}', group=RBAC_GROUP, kind=resource, name=name
    )


#: What garbage collection changes on any object (upstream's IsOnlyMutatingGCFields), and bookkeeping.
_GC_FIELDS = frozenset({"ownerReferences", "finalizers", "resourceVersion", "managedFields", "generation"})


def _without_gc_fields(obj: Obj) -> Obj:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _GC_FIELDS}
    return {**obj, "metadata": meta}


class RBACStorageHooks:
    """Store hooks for one RBAC kind: the escalation checks, and keeping the authorizer current."""

    def __init__(self, kind: str, rbac: RBACAuthorizer, authorizer: Authorizer) -> None:
        self.kind = kind
        self.resource = {"Role": "roles", "ClusterRole": "clusterroles"}.get(kind) or kind.lower() + "s"
        self.rbac = rbac
        self.authorizer = authorizer

    async def _allowed(self, user: UserInfo, verb: str, resource: str, namespace: str, name: str) -> bool:
        attrs = Attributes(
            user, verb, True, api_group=RBAC_GROUP, api_version="v1", resource=resource, namespace=namespace, name=name
        )
        decision, _ = await self.authorizer.authorize(attrs)
        return decision is Decision.ALLOW

    async def _check(self, obj: Obj, *, creating: bool) -> None:
        user = current_user.get()
        if user is None or MASTERS in user.groups:
            return
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if self.kind in ("Role", "ClusterRole"):
            # Upstream asks with the request's name: a create has none, so a name-limited escalate does not apply.
            if await self._allowed(user, "escalate", self.resource, namespace, "" if creating else name):
                return
            await confirm_no_escalation(self.rbac, user, namespace, rules_from(obj), self.resource, name)
            return
        ref = obj.get("roleRef") or {}
        ref_kind, ref_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        ref_resource = "clusterroles" if ref_kind == "ClusterRole" else "roles"
        if await self._allowed(user, "bind", ref_resource, namespace, ref_name):
            return
        rules = await self._role_rules(ref_kind, ref_name, namespace)
        await confirm_no_escalation(self.rbac, user, namespace, rules, self.resource, name)

    async def _role_rules(self, kind: str, name: str, namespace: str) -> tuple[Rule, ...]:
        rest = self.rbac.rest
        plural = "clusterroles" if kind == "ClusterRole" else "roles"
        info = rest.registry.get(RBAC_GROUP, "v1", plural)
        assert info is not None
        cached = await rest.get_cached(info, namespace if kind == "Role" else None, name)
        if cached is None:
            raise errors.NotFound(f'{plural}.{RBAC_GROUP} "{name}" not found', group=RBAC_GROUP, kind=plural, name=name)
        return rules_from(cached.obj)

    def _finish(self) -> Finish:
        async def finish(ok: bool) -> None:
            if ok:
                self.rbac.wrote()

        return finish

    async def begin_create(self, obj: Obj, *, dry_run: bool) -> Finish:
        """Refuse a role or binding that escalates."""
        await self._check(obj, creating=True)
        return self._finish()

    async def begin_update(self, new: Obj, old: Obj, *, dry_run: bool) -> Finish:
        """Refuse an update that escalates (one that changes only what garbage collection needs passes)."""
        if _without_gc_fields(new) != _without_gc_fields(old):
            await self._check(new, creating=False)
        return self._finish()

    async def after_delete(self, obj: Obj) -> None:
        """A deleted role or binding stops granting at once."""
        self.rbac.wrote()
