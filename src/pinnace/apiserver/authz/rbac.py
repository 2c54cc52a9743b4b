"""The RBAC authorizer: Roles, ClusterRoles and their bindings, from the server's own watch caches.

The four RBAC resources are ordinary stored objects; the authorizer reads them
from the watch caches the server already keeps, and indexes them once per
change: bindings by subject (user name, group name, service account), roles by
name. A user's rules are resolved once (per namespace) and each decision is
remembered, so a repeated request costs a tuple and a dict lookup; any RBAC
event drops all of it, and moves the index's :meth:`~RBACAuthorizer.version`, which
drops the decisions the authorizer chain remembers as well. Writes of RBAC objects through this server mark the
authorizer behind (:meth:`RBACAuthorizer.wrote`) so the next decision first
waits for the caches to have applied them — a binding just created is in force
for the request after it, as the client expects.

Evaluation is upstream's ``VisitRulesFor``: every ClusterRoleBinding, then the
RoleBindings of the request's namespace; the first rule that allows wins, and
its binding is named in the reason. A binding to a missing role is an error
that is reported in the reason of a denial (``RBAC: clusterrole… not found``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.authz.rules import Rule, allows, rules_from
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import Attributes, Decision, UserInfo
from pinnace.apiserver.watch_cache import Watcher

__all__ = ["RBAC_GROUP", "RBACAuthorizer", "ResolvedRule", "service_account_of"]

RBAC_GROUP = "rbac.authorization.k8s.io"
_SA_PREFIX = "system:serviceaccount:"
#: Decisions remembered until the next RBAC change (then all are dropped; a full table is emptied).
_MAX_DECISIONS = 20_000

Obj = dict[str, Any]


def service_account_of(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a service account's user name, or None."""
    if not username.startswith(_SA_PREFIX):
        return None
    namespace, sep, name = username[len(_SA_PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


@dataclass(frozen=True, slots=True)
class ResolvedRule:
    """A rule a user holds, with the binding that grants it (for reasons)."""

    rule: Rule
    source: str


@dataclass(slots=True)
class _Binding:
    kind: str  # ClusterRoleBinding | RoleBinding
    name: str
    namespace: str
    role_kind: str
    role_name: str


@dataclass(slots=True)
class _Index:
    """The RBAC objects as of one moment, arranged for lookups by subject."""

    cluster_roles: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    roles: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict)
    # subject key → [(binding, subject description)]; keys: ("User", name), ("Group", name), ("SA", ns, name)
    cluster_bindings: dict[tuple[str, ...], list[tuple[_Binding, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    bindings: dict[str, dict[tuple[str, ...], list[tuple[_Binding, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )


def _subject_keys(subject: Obj, binding_namespace: str) -> tuple[tuple[str, ...], str] | None:
    kind, name = str(subject.get("kind") or ""), str(subject.get("name") or "")
    if kind == "User":
        return ("User", name), f'User "{name}"'
    if kind == "Group":
        return ("Group", name), f'Group "{name}"'
    if kind == "ServiceAccount":
        namespace = str(subject.get("namespace") or binding_namespace)
        if not namespace:
            return None
        return ("SA", namespace, name), f'ServiceAccount "{namespace}/{name}"'
    return None


def _user_keys(user: UserInfo) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = [("User", user.name)]
    keys.extend(("Group", g) for g in user.groups)
    sa = service_account_of(user.name)
    if sa is not None:
        keys.append(("SA", *sa))
    return keys


def _decision_key(a: Attributes) -> tuple[Any, ...]:
    user = a.user
    return (
        user.name, user.groups, a.verb, a.resource_request, a.api_group, a.resource,
        a.subresource, a.namespace, a.name, a.path,
    )  # fmt: skip


class RBACAuthorizer:
    """Decides from RBAC objects in the watch caches of ``rest``; call :meth:`start` before use."""

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self._infos: list[ResourceInfo] = []
        self._watchers: list[Watcher] = []
        self._index = _Index()
        self._behind = False
        self._rules: dict[tuple[Any, ...], tuple[list[ResolvedRule], list[str]]] = {}
        self._decisions: dict[tuple[Any, ...], tuple[Decision, str]] = {}
        self._generation = 0

    async def start(self) -> None:
        """Follow the RBAC caches (started if need be) and build the first index."""
        registry = self.rest.registry
        self._infos = []
        for plural in ("clusterroles", "clusterrolebindings", "roles", "rolebindings"):
            info = registry.get(RBAC_GROUP, "v1", plural)
            assert info is not None, f"{plural} missing from the registry"
            self._infos.append(info)
        self._watchers = [await self._watch(info) for info in self._infos]
        self._rebuild()

    async def _watch(self, info: ResourceInfo) -> Watcher:
        cache = await self.rest.caches.get(info)
        return cache.watch(None, None, after_revision=cache.revision)

    def stop(self) -> None:
        """Stop following the caches."""
        for w in self._watchers:
            w.terminate()
        self._watchers = []

    def wrote(self) -> None:
        """An RBAC object was just written through this server: catch up before the next decision."""
        self._behind = True

    # ---- index -------------------------------------------------------------
    async def _refresh(self) -> None:
        if self._behind:
            self._behind = False
            for info in self._infos:
                await self.rest.fresh_cache(info)
        changed = False
        for i, w in enumerate(self._watchers):
            if w.closed:
                self._watchers[i] = await self._watch(self._infos[i])
                changed = True
            elif w.pending:
                w.pending.clear()
                changed = True
        if changed:
            self._rebuild()

    def _rebuild(self) -> None:
        caches = {c.prefix: c for c in self.rest.caches.all()}
        index = _Index()
        objects: list[list[Obj]] = []
        for info in self._infos:
            cache = caches.get(info.storage_prefix)
            objects.append([o.obj for o in cache.objects.values()] if cache is not None else [])
        cluster_roles, cluster_bindings, roles, bindings = objects
        for obj in cluster_roles:
            index.cluster_roles[obj["metadata"]["name"]] = rules_from(obj)
        for obj in roles:
            meta = obj["metadata"]
            index.roles[(meta.get("namespace") or "", meta["name"])] = rules_from(obj)
        for obj, target in [(o, index.cluster_bindings) for o in cluster_bindings] + [
            (o, index.bindings[o["metadata"].get("namespace") or ""]) for o in bindings
        ]:
            meta, ref = obj["metadata"], obj.get("roleRef") or {}
            namespace = meta.get("namespace") or ""
            binding = _Binding(
                "RoleBinding" if namespace else "ClusterRoleBinding",
                meta["name"],
                namespace,
                str(ref.get("kind") or ""),
                str(ref.get("name") or ""),
            )
            for subject in obj.get("subjects") or ():
                keyed = _subject_keys(subject, namespace) if isinstance(subject, dict) else None
                if keyed is not None:
                    target[keyed[0]].append((binding, keyed[1]))
        self._index = index
        self._generation += 1
        self._rules.clear()
        self._decisions.clear()

    # ---- resolution ----------------------------------------------------------
    def _role_rules(self, binding: _Binding) -> tuple[tuple[Rule, ...], str | None]:
        if binding.role_kind == "ClusterRole":
            rules = self._index.cluster_roles.get(binding.role_name)
            missing = f'clusterrole.rbac.authorization.k8s.io "{binding.role_name}" not found'
        elif binding.role_kind == "Role" and binding.namespace:
            rules = self._index.roles.get((binding.namespace, binding.role_name))
            missing = f'role.rbac.authorization.k8s.io "{binding.role_name}" not found'
        else:
            return (), f"unknown role kind {binding.role_kind!r}"
        return (rules, None) if rules is not None else ((), missing)

    def _resolve(
        self, user: UserInfo, table: dict[tuple[str, ...], list[tuple[_Binding, str]]]
    ) -> tuple[list[ResolvedRule], list[str]]:
        out: list[ResolvedRule] = []
        errs: list[str] = []
        seen: set[int] = set()
        for key in _user_keys(user):
            for binding, subject in table.get(key, ()):
                if id(binding) in seen:
                    continue
                seen.add(id(binding))
                rules, err = self._role_rules(binding)
                if err is not None:
                    errs.append(err)
                    continue
                if binding.kind == "ClusterRoleBinding":
                    where = f'ClusterRoleBinding "{binding.name}"'
                else:
                    where = f'RoleBinding "{binding.name}/{binding.namespace}"'
                source = f'{where} of {binding.role_kind} "{binding.role_name}" to {subject}'
                out.extend(ResolvedRule(rule, source) for rule in rules)
        return out, errs

    def _cluster_rules(self, user: UserInfo) -> tuple[list[ResolvedRule], list[str]]:
        key = (user.name, user.groups, None)
        hit = self._rules.get(key)
        if hit is None:
            hit = self._rules[key] = self._resolve(user, self._index.cluster_bindings)
        return hit

    def _namespace_rules(self, user: UserInfo, namespace: str) -> tuple[list[ResolvedRule], list[str]]:
        key = (user.name, user.groups, namespace)
        hit = self._rules.get(key)
        if hit is None:
            table = self._index.bindings.get(namespace)
            hit = self._rules[key] = self._resolve(user, table) if table else ([], [])
        return hit

    async def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[ResolvedRule], list[str]]:
        """Every rule ``user`` holds in ``namespace`` ("" : cluster-wide only), and resolution errors."""
        await self._refresh()
        rules, errs = self._cluster_rules(user)
        if not namespace:
            return list(rules), list(errs)
        ns_rules, ns_errs = self._namespace_rules(user, namespace)
        return rules + ns_rules, errs + ns_errs

    def _changed(self) -> bool:
        # A plain loop: this runs on every request (a generator under any() costs several times more).
        for w in self._watchers:  # noqa: SIM110
            if w.pending or w.closed:
                return True
        return False

    # ---- decisions -----------------------------------------------------------
    def version(self) -> int | None:
        """Which index decisions are made from now (it moves with every RBAC change); None while changes are
        waiting to be applied (or this server's RBAC writes to be seen), when no remembered decision may be used."""
        if self._behind or self._changed():
            return None
        return self._generation

    def authorize_cached(self, attributes: Attributes) -> tuple[Decision, str] | None:
        """:meth:`authorize`'s answer if it is remembered and the index is up to date; else None (await that)."""
        if self._behind or self._changed():
            return None
        return self._decisions.get(_decision_key(attributes))

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """ALLOW with the granting binding as reason, or NO_OPINION (with resolution errors, if any)."""
        if self._behind or self._changed():
            await self._refresh()
        key = _decision_key(attributes)
        hit = self._decisions.get(key)
        if hit is not None:
            return hit
        decision = self._decide(attributes)
        if len(self._decisions) >= _MAX_DECISIONS:
            self._decisions.clear()
        self._decisions[key] = decision
        return decision

    def _decide(self, attributes: Attributes) -> tuple[Decision, str]:
        errs: list[str] = []
        tables = [self._cluster_rules(attributes.user)]
        if attributes.namespace:
            tables.append(self._namespace_rules(attributes.user, attributes.namespace))
        for rules, table_errs in tables:
            for resolved in rules:
                if allows(resolved.rule, attributes):
                    return Decision.ALLOW, f"RBAC: allowed by {resolved.source}"
            errs.extend(table_errs)
        if not errs:
            return Decision.NO_OPINION, ""
        return Decision.NO_OPINION, "RBAC: " + (errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
