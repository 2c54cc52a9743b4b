"""The fields Go's JSON encoding of a built-in object always writes, filled in where the object lacks them, and
the zero scalars it never writes, removed.

kube-apiserver decodes every object into its Go struct and encodes it again, and ``encoding/json`` never omits
a struct-valued field that is not a pointer (``omitempty`` does not apply to structs), nor a field without
``omitempty`` (the OpenAPI definitions list those as ``required``). So a Deployment fresh from a create reads
back with ``status: {}``, a Service with ``status: {loadBalancer: {}}``, a ReplicaSet with
``status: {replicas: 0}`` and a Node with its ``daemonEndpoints`` and ``nodeInfo`` at their zero values. The
official Python client's models turn ``{}`` into an empty status object and a missing key into ``None``: code
such as ``csr.status.conditions = [...]`` works against the one and fails against the other.

The other way round, ``omitempty`` leaves out a scalar that is no pointer at its zero value: a Deployment created
with ``paused: false`` or ``minReadySeconds: 0`` reads back without them (``replicas: 0``, a pointer, stays), so
those are removed.

Which fields are pointers comes from the protobuf descriptors of v1.32 (``protobuf.message_rows``); which are
written when zero, from the definitions' ``required`` lists (a scalar not in them has ``omitempty``, but for
the few ``+optional`` fields without it, listed in :data:`_WRITTEN_THOUGH_OPTIONAL` and written like the
required ones). Left alone: times and nil lists (Go writes ``null``, which reads back as absent), quantities and
int-or-strings (their zero values are not filled in).
Of the kinds the descriptors lack (CRDs, APIServices) only ``spec`` and ``status`` are filled in (every kind's
are structs); custom resources are left as they are.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable
from typing import Any

from pinnace.api import protobuf
from pinnace.api.definitions import load_definitions

Obj = dict[str, Any]

_ZERO: dict[str, Any] = {"string": "", "int": 0, "bool": False}
#: Scalars marked ``+optional`` (so not ``required`` in the definitions) whose JSON tag has no ``omitempty``:
#: Go writes them at zero as it does the required ones (``reportingComponent: ""`` on every core Event,
#: ``availableReplicas: 0`` in a new StatefulSet's status), so they are filled in likewise. The list is every
#: such field of the v1 API types (their Go sources read field by field: scheduling, authentication and
#: authorization mark theirs ``+optional`` only after v1.32, where they are still ``required``).
_WRITTEN_THOUGH_OPTIONAL: dict[str, frozenset[str]] = {
    "k8s.io.api.apps.v1.StatefulSetStatus": frozenset({"availableReplicas"}),
    "k8s.io.api.apps.v1.StatefulSetOrdinals": frozenset({"start"}),
    "k8s.io.api.core.v1.Event": frozenset({"reportingComponent", "reportingInstance"}),
    "k8s.io.api.core.v1.NodeRuntimeHandler": frozenset({"name"}),
    "k8s.io.api.flowcontrol.v1.FlowSchemaSpec": frozenset({"matchingPrecedence"}),
    "k8s.io.api.flowcontrol.v1.QueuingConfiguration": frozenset({"handSize", "queueLengthLimit", "queues"}),
}


class _Plan:
    """One message compiled: the scalars written at zero, the structs always written, and the fields worth a
    look when present (a struct behind a pointer, a list or a map of structs)."""

    __slots__ = ("inner", "omitted", "structs", "zeros")

    def __init__(self) -> None:
        self.zeros: tuple[tuple[str, Any], ...] = ()
        self.structs: tuple[tuple[str, _Plan], ...] = ()
        self.inner: dict[str, tuple[int, _Plan]] = {}
        #: The ``omitempty`` scalars that are no pointers, with their types: Go does not write them at zero.
        self.omitted: dict[str, type] = {}

    def adds_nothing(self) -> bool:
        """Whether filling an object of this message can change nothing."""
        return not (self.zeros or self.structs or self.inner or self.omitted)


_ONE, _EACH, _VALUES = range(3)
_plans: dict[str, _Plan] = {}
_NOTHING = _Plan()  # a struct known only to be one


def message_of(definition: str) -> str:
    """The protobuf message name of an OpenAPI definition (``io.k8s.api.core.v1.Pod`` → ``k8s.io.api.core.v1.Pod``)."""
    return "k8s.io." + definition[len("io.k8s.") :] if definition.startswith("io.k8s.") else definition


def _plan(message: str) -> _Plan:
    """The compiled plan of a message (built on first use; a message that refers to itself shares its plan)."""
    plan = _plans.get(message)
    if plan is not None:
        return plan
    plan = _plans[message] = _Plan()
    definition = load_definitions().get("io.k8s." + message[len("k8s.io.") :], {})
    rows = protobuf.message_rows(message)
    if rows is None:  # a kind the descriptors lack: its spec and status are structs, as every kind's are
        if "x-kubernetes-group-version-kind" in definition:
            props = definition.get("properties") or {}
            plan.structs = tuple((name, _NOTHING) for name in ("spec", "status") if name in props)
        return plan
    required = set(definition.get("required") or ())
    kept = _WRITTEN_THOUGH_OPTIONAL.get(message, frozenset())
    zeros: list[tuple[str, Any]] = []
    structs: list[tuple[str, _Plan]] = []
    for _number, name, kind, flags in rows:
        repeated, pointer, inline = flags & 1, flags & 2, flags & 4
        if inline:
            continue
        head, _, rest = kind.partition(":")
        if head == "message":
            sub = _plan(rest)
            if not repeated and not pointer:
                structs.append((name, sub))
            elif sub is plan or not sub.adds_nothing():
                plan.inner[name] = (_EACH if repeated else _ONE, sub)
        elif head == "map":
            value = rest.partition(":")[2]
            if value.startswith("message:"):
                sub = _plan(value[len("message:") :])
                if sub is plan or not sub.adds_nothing():
                    plan.inner[name] = (_VALUES, sub)
        elif kind in _ZERO and not repeated and not pointer:
            if name in required or name in kept:
                zeros.append((name, _ZERO[kind]))
            else:
                plan.omitted[name] = type(_ZERO[kind])
    plan.zeros, plan.structs = tuple(zeros), tuple(structs)
    return plan


def fill(obj: Obj, definition: str, field: str | None = None) -> None:
    """Add (in place) what Go would write for ``obj``, an object of the built-in ``definition``; with ``field``,
    only within that top-level field (``status``)."""
    plan = _plan(message_of(definition))
    if field is None:
        _filler(plan)(obj)
    else:
        for name, sub in plan.structs:
            if name == field:
                value = obj.get(name)
                if not isinstance(value, dict):
                    value = obj[name] = {}
                _filler(sub)(value)
    if "status" in obj and next(reversed(obj)) != "status":
        obj["status"] = obj.pop("status")  # an added spec goes before the status, as the encoder writes them


_zero_values: dict[str, Obj] = {}


def zero_value(definition: str) -> Obj:
    """What Go writes for the zero value of the built-in ``definition`` (its always-written structs, nested, and
    zero scalars): the object upstream's field manager compares a create with. Shared: do not change it."""
    found = _zero_values.get(definition)
    if found is None:
        literal = _empty_literal(_plan(message_of(definition)))
        found = _zero_values[definition] = ast.literal_eval(literal) if literal is not None else {}
    return found


# ---- the plans compiled to Python ---------------------------------------------------------------------------
#
# Filling runs on every write of a built-in object, over its whole tree (25 structs in a typical Deployment), so
# each plan becomes one generated function: its zeros, structs and fields are written out as straight-line code
# with their names as constants, a struct added where it was missing is written as its filled literal (``{}`` or
# ``{"loadBalancer": {}}``) without a call, and a field whose plan adds nothing to what it holds is not visited.

_Filler = Callable[[Obj], None]
#: The generated functions (each plan's is ``_f<n>``, its ``omitted`` table ``_f<n>_omitted``), sharing one
#: namespace so that a plan reached from several kinds (ObjectMeta, Container) is compiled once.
_namespace: dict[str, Any] = {}
_function_names: dict[int, str] = {}
_compiling = threading.Lock()


def _filler(plan: _Plan) -> _Filler:
    """The generated function that fills an object of ``plan`` (compiled, with the plans it reaches, on first use)."""
    name = _function_names.get(id(plan))
    if name is None:
        with _compiling:  # a plan's name is known before its function exists: one compiler at a time
            name = _function_names.get(id(plan)) or _compile(plan)
    return _namespace[name]  # type: ignore[no-any-return]


def _empty_literal(plan: _Plan, seen: frozenset[int] = frozenset()) -> str | None:
    """Python source of what filling ``{}`` of ``plan`` gives (a fresh object each time it runs); None if the
    plan refers to itself on the way (then the filler is called)."""
    if id(plan) in seen:
        return None
    seen |= {id(plan)}
    parts = [f"{name!r}: {zero!r}" for name, zero in plan.zeros]
    for name, sub in plan.structs:
        literal = _empty_literal(sub, seen)
        if literal is None:
            return None
        parts.append(f"{name!r}: {literal}")
    return "{" + ", ".join(parts) + "}"


def _compile(plan: _Plan) -> str:
    """Generate the functions of ``plan`` and of the plans it reaches that have none yet; the name of its own."""
    new: list[_Plan] = []

    def name_of(sub: _Plan) -> str:
        name = _function_names.get(id(sub))
        if name is None:
            name = _function_names[id(sub)] = f"_f{len(_function_names)}"
            new.append(sub)
        return name

    root = name_of(plan)
    sources: list[str] = []
    while len(sources) < len(new):
        current = new[len(sources)]
        sources.append(_source(current, name_of(current), name_of))
    exec(compile("\n".join(sources), "<gozero>", "exec"), _namespace)
    return root


def _source(plan: _Plan, name: str, name_of: Callable[[_Plan], str]) -> str:
    """The Python source of the function ``name`` that fills an object of ``plan``."""
    lines = [f"def {name}(obj):"]
    if plan.omitted:
        _namespace[name + "_omitted"] = plan.omitted
        lines += [
            "    if not all(obj.values()):",
            f"        omitted = {name}_omitted",
            "        for key in [k for k, v in obj.items() if not v and type(v) is omitted.get(k)]:",
            "            del obj[key]",
        ]
    for field, zero in plan.zeros:
        lines += [f"    if obj.get({field!r}) is None:", f"        obj[{field!r}] = {zero!r}"]
    for field, sub in plan.structs:
        literal = _empty_literal(sub)
        visit = not sub.adds_nothing()
        lines.append(f"    value = obj.get({field!r})")
        if literal is not None:
            lines += ["    if not isinstance(value, dict):", f"        obj[{field!r}] = {literal}"]
            if visit:
                lines += ["    else:", f"        {name_of(sub)}(value)"]
        else:
            lines += ["    if not isinstance(value, dict):", f"        value = obj[{field!r}] = {{}}"]
            lines.append(f"    {name_of(sub)}(value)")
    for field, (how, sub) in plan.inner.items():
        call = name_of(sub)
        lines.append(f"    value = obj.get({field!r})")
        if how == _ONE:
            lines += ["    if isinstance(value, dict):", f"        {call}(value)"]
        else:
            each = "value" if how == _EACH else "value.values()"
            kind = "list" if how == _EACH else "dict"
            lines += [
                f"    if value and isinstance(value, {kind}):",
                f"        for item in {each}:",
                "            if isinstance(item, dict):",
                f"                {call}(item)",
            ]
    if len(lines) == 1:
        lines.append("    pass")
    return "\n".join(lines) + "\n"
