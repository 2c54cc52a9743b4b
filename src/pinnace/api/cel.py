"""``x-kubernetes-validations``: CRD validation rules in CEL.

Upstream evaluates each rule with cel-go, ``self`` bound to the value of the
schema node that carries the rule and ``oldSelf`` to the same node of the
object before an update (transition rules: a rule that mentions ``oldSelf``
runs only when there is an old value to compare with). Here the rules are
compiled and run by ``cel-expr-python``, Google's CEL C++ runtime — the same
language definition, macros (``has``, ``all``, ``exists``, ``exists_one``,
``map``, ``filter``), the strings extension Kubernetes enables, and cel-go's
error wording for compilation failures.

:func:`compile_rules` turns a version's schema into a :class:`RuleTree` (only
the branches that hold rules), reporting rules that do not compile as causes
on the CRD; :meth:`RuleTree.validate` runs it over an object (and its old
self) and reports each failed rule at its field path, with upstream's
message (the rule's ``message``, its ``messageExpression``, or ``failed
rule: <rule>``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from pinnace.api import errors
from pinnace.api.cel_native import Fallback, native_program
from pinnace.api.errors import Cause

Schema = dict[str, Any]

_OLD_SELF = re.compile(r"\boldSelf\b")
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")


@functools.cache
def _env() -> Any:
    # The CEL runtime (native, ~8 MB resident) loads with the first rule compiled, not with the API server.
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_strings

    return cel.NewEnv(
        variables={"self": cel.Type.DYN, "oldSelf": cel.Type.DYN},
        extensions=[ext_strings.ExtStrings()],
    )


class CompileError(Exception):
    """A rule that is not valid CEL (the message is cel's, ``ERROR: <input>:1:6: …``)."""


@functools.lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Any:
    """A compiled CEL program (cached by its text)."""
    try:
        return _env().compile(expression)
    except RuntimeError as exc:
        message = str(exc)
        if message.startswith("INVALID_ARGUMENT: "):
            message = message[len("INVALID_ARGUMENT: ") :]
        message = re.sub(r"\s*\[INVALID_ARGUMENT\]\s*$", "", message)
        raise CompileError(message) from None


def evaluate(expression: str, self_value: Any, old_value: Any = None, *, has_old: bool = False) -> Any:
    """Run one expression; its value, or :class:`EvaluationError`.

    The simplest rules on plain values are answered in Python (:mod:`pinnace.api.cel_native`), the rest by the
    CEL runtime.
    """
    if not has_old:
        native = native_program(expression)
        if native is not None:
            try:
                return native(self_value)
            except Fallback:
                pass
    program = compile_expression(expression)
    data: dict[str, Any] = {"self": self_value}
    if has_old:
        data["oldSelf"] = old_value
    try:
        result = program.eval(data=data)
    except RuntimeError as exc:
        raise EvaluationError(str(exc)) from None
    value = result.plain_value()
    if value is True or value is False:  # the usual verdict (an error's plain value is its message)
        return value
    if result.type().name() == "ERROR":
        raise EvaluationError(str(value))
    return value


class EvaluationError(Exception):
    """A rule that failed to run (no such key, no matching overload, …)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled ``x-kubernetes-validations`` entry."""

    rule: str
    message: str = ""
    message_expression: str = ""
    reason: str = "FieldValueInvalid"
    field_path: str = ""
    transition: bool = False
    #: The fields of ``self`` the rule can reach, when it reaches them only as ``self.<field>`` (None: it may
    #: look at ``self`` as a whole). Only these are handed to CEL: converting a whole object costs per field.
    self_fields: tuple[str, ...] | None = None


@dataclass(slots=True)
class RuleTree:
    """The rules of one schema node and of the nodes below it that have any."""

    type_name: str = ""
    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, RuleTree] = field(default_factory=dict)
    additional: RuleTree | None = None
    items: RuleTree | None = None
    map_keys: tuple[str, ...] = ()

    def validate(self, value: Any, old: Any = None, *, has_old: bool = False, path: str = "") -> list[Cause]:
        """Every rule ``value`` fails (with ``old``, its previous self, when ``has_old``)."""
        causes: list[Cause] = []
        self._walk(value, old, has_old, path, causes)
        return causes

    def _walk(self, value: Any, old: Any, has_old: bool, path: str, causes: list[Cause]) -> None:
        if value is None:
            return
        for rule in self.rules:
            if rule.transition and not has_old:
                continue
            cause = self._run(rule, value, old, has_old, path)
            if cause is not None:
                causes.append(cause)
        if isinstance(value, dict):
            old_map = old if has_old and isinstance(old, dict) else None
            for key, child in self.properties.items():
                if key in value:
                    child._walk(
                        value[key],
                        old_map.get(key) if old_map else None,
                        old_map is not None and key in old_map,
                        f"{path}.{key}" if path else key,
                        causes,
                    )
            if self.additional is not None:
                for key, item in value.items():
                    if key in self.properties:
                        continue
                    self.additional._walk(
                        item,
                        old_map.get(key) if old_map else None,
                        old_map is not None and key in old_map,
                        f"{path}[{key}]",
                        causes,
                    )
        elif isinstance(value, list) and self.items is not None:
            old_items: dict[tuple[Any, ...], Any] = {}
            if has_old and isinstance(old, list) and self.map_keys:
                for item in old:
                    if isinstance(item, dict):
                        old_items[tuple(repr(item.get(k)) for k in self.map_keys)] = item
            for i, item in enumerate(value):
                item_key: tuple[Any, ...] | None = None
                if self.map_keys and isinstance(item, dict):
                    item_key = tuple(repr(item.get(k)) for k in self.map_keys)
                found = item_key is not None and item_key in old_items
                old_item = old_items.get(item_key) if item_key is not None else None
                self.items._walk(item, old_item, found, f"{path}[{i}]", causes)

    def _run(self, rule: Rule, value: Any, old: Any, has_old: bool, path: str) -> Cause | None:
        shown = f'"{self.type_name}"'
        view = value
        if rule.self_fields is not None and type(value) is dict:
            view = {k: value[k] for k in rule.self_fields if k in value}
        try:
            result = evaluate(rule.rule, view, old, has_old=has_old)
        except EvaluationError as exc:
            return Cause(errors.CAUSE_INVALID, f"Invalid value: {shown}: {exc} evaluating rule: {rule.rule}", path)
        if result is True:
            return None
        if result is not False:
            return Cause(
                errors.CAUSE_INVALID,
                f"Invalid value: {shown}: rule did not evaluate to a boolean (got {result!r}): {rule.rule}",
                path,
            )
        message = rule.message or f"failed rule: {rule.rule}"
        if rule.message_expression:
            try:
                produced = evaluate(rule.message_expression, value, old, has_old=has_old)
            except EvaluationError:
                produced = None
            if isinstance(produced, str) and produced.strip():
                message = produced
        where = path + rule.field_path if rule.field_path else path
        where = where.lstrip(".")
        if rule.reason == "FieldValueForbidden":
            return Cause(rule.reason, f"Forbidden: {message}", where)
        if rule.reason == "FieldValueRequired":
            return Cause(rule.reason, f"Required value: {message}", where)
        if rule.reason == "FieldValueDuplicate":
            return Cause(rule.reason, f"Duplicate value: {shown}", where)
        return Cause(errors.CAUSE_INVALID, f"Invalid value: {shown}: {message}", where)


def compile_rules(schema: Any, path: str) -> tuple[RuleTree | None, list[Cause]]:
    """The rule tree of a schema (None if it has no rules) and the rules that do not compile."""
    causes: list[Cause] = []
    tree = _compile(schema, path, causes) if isinstance(schema, dict) else None
    return tree, causes


def _compile(s: Schema, path: str, causes: list[Cause]) -> RuleTree | None:
    node = RuleTree(type_name=str(s.get("type") or ""))
    for i, raw in enumerate(s.get("x-kubernetes-validations") or []):
        rule_path = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("rule"), str) or not raw["rule"].strip():
            causes.append(Cause(errors.CAUSE_REQUIRED, "Required value", f"{rule_path}.rule"))
            continue
        text = raw["rule"]
        try:
            compile_expression(text)
        except CompileError as exc:
            causes.append(
                Cause(
                    errors.CAUSE_INVALID,
                    f"Invalid value: {_go_rule(raw)}: compilation failed: {exc}",
                    f"{rule_path}.rule",
                )
            )
            continue
        message_expression = str(raw.get("messageExpression") or "")
        if message_expression:
            try:
                compile_expression(message_expression)
            except CompileError as exc:
                causes.append(
                    Cause(
                        errors.CAUSE_INVALID,
                        f"Invalid value: {_go_rule(raw)}: messageExpression compilation failed: {exc}",
                        f"{rule_path}.messageExpression",
                    )
                )
                continue
        reason = str(raw.get("reason") or "FieldValueInvalid")
        if reason not in _REASONS:
            supported = ", ".join(f'"{r}"' for r in sorted(_REASONS))
            causes.append(
                Cause(
                    errors.CAUSE_NOT_SUPPORTED,
                    f'Unsupported value: "{reason}": supported values: {supported}',
                    f"{rule_path}.reason",
                )
            )
            continue
        node.rules.append(
            Rule(
                rule=text,
                message=str(raw.get("message") or ""),
                message_expression=message_expression,
                reason=reason,
                field_path=str(raw.get("fieldPath") or ""),
                transition=bool(_OLD_SELF.search(text)),
                self_fields=self_fields(text),
            )
        )
    props = s.get("properties")
    if isinstance(props, dict):
        for key, child in props.items():
            if isinstance(child, dict):
                sub = _compile(child, f"{path}.properties[{key}]", causes)
                if sub is not None:
                    node.properties[key] = sub
    addl = s.get("additionalProperties")
    if isinstance(addl, dict):
        node.additional = _compile(addl, f"{path}.additionalProperties", causes)
    items = s.get("items")
    if isinstance(items, dict):
        node.items = _compile(items, f"{path}.items", causes)
        if s.get("x-kubernetes-list-type") == "map":
            node.map_keys = tuple(str(k) for k in s.get("x-kubernetes-list-map-keys") or ())
    if not node.rules and not node.properties and node.additional is None and node.items is None:
        return None
    return node


_SELF = re.compile(r"\bself\b")
_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)\s*(\(?)")


def self_fields(expression: str) -> tuple[str, ...] | None:
    """The fields an expression reads from ``self``, if every use of ``self`` is a plain ``self.<field>``.

    None when ``self`` is used any other way (``self == oldSelf``, ``self.size()``, ``self.all(…)``,
    ``self[…]``, ``self.?x``, …): then the rule must see the whole value. A ``self`` inside a string literal
    only adds a field or forces the whole value, never hides one.
    """
    fields: list[str] = []
    for match in _SELF.finditer(expression):
        start = match.start()
        if start and expression[start - 1] == ".":  # ``x.self`` is a field of something else
            return None
        access = _FIELD.match(expression, match.end())
        if access is None or access.group(2):
            return None
        if access.group(1) not in fields:
            fields.append(access.group(1))
    return tuple(fields)


def _go_rule(raw: dict[str, Any]) -> str:
    """A rule as upstream prints the ValidationRule struct in an Invalid value."""
    rule = str(raw.get("rule") or "").replace('"', '\\"')
    message = str(raw.get("message") or "").replace('"', '\\"')
    message_expression = str(raw.get("messageExpression") or "").replace('"', '\\"')
    return (
        f'apiextensions.ValidationRule{{Rule:"{rule}", Message:"{message}", '
        f'MessageExpression:"{message_expression}", Reason:(*apiextensions.FieldValueErrorReason)(nil), '
        f'FieldPath:"{raw.get("fieldPath") or ""}", OptionalOldSelf:(*bool)(nil)}}'
    )
