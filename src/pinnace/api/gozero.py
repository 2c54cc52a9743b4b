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
        _fill(obj, plan)
    else:
        for name, sub in plan.structs:
            if name == field:
                value = obj.get(name)
                if not isinstance(value, dict):
                    value = obj[name] = {}
                _fill(value, sub)
    if "status" in obj and next(reversed(obj)) != "status":
        obj["status"] = obj.pop("status")  # an added spec goes before the status, as the encoder writes them


def _fill(obj: Obj, plan: _Plan) -> None:
    omitted = plan.omitted
    if omitted and not all(obj.values()):  # most objects have no falsy value: one pass in C says so
        for name in [name for name, value in obj.items() if not value and type(value) is omitted.get(name)]:
            del obj[name]  # "", 0 or false: a zero of its own type
    for name, zero in plan.zeros:
        if obj.get(name) is None:
            obj[name] = zero
    for name, sub in plan.structs:
        value = obj.get(name)
        if not isinstance(value, dict):
            value = obj[name] = {}
        _fill(value, sub)
    inner = plan.inner
    if not inner:
        return
    for name, value in obj.items():
        step = inner.get(name)
        if step is None:
            continue
        how, sub = step
        if how == _ONE:
            if isinstance(value, dict):
                _fill(value, sub)
        elif how == _EACH:
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        _fill(item, sub)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, dict):
                    _fill(item, sub)
