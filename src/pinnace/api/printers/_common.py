"""Shared pieces of the server-side printers: columns, ages, selectors, quantities.

Each helper mirrors one small upstream function (``duration.HumanDuration``,
``labels.FormatLabels``, ``metav1.FormatLabelSelector``, ``Quantity.String`` …)
so that the cells the printers build are byte-for-byte what kube-apiserver
sends. Objects are the wire ``dict``s; every accessor tolerates missing or
mistyped fields the way a decoded Go struct would (zero values).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from pinnace.api.definitions import load_definitions

Obj = Mapping[str, Any]
#: One column definition as on the wire (name, type, format, description, priority).
Column = dict[str, Any]
#: Computes the cells of one row from an object and the injected "now".
RowFn = Callable[[Obj, datetime], list[Any]]

NONE = "<none>"
UNKNOWN = "<unknown>"
UNSET = "<unset>"

_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
#: The shared "nil struct": read-only, so handing it out is safe.
_EMPTY: Obj = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Printer:
    """How one kind is printed: its column definitions and its row function.

    ``columns`` is a factory (descriptions come from the OpenAPI definitions,
    loaded lazily); ``conditions`` adds ``TableRow.conditions`` (pods only);
    ``sort_key`` reorders rows where upstream's list printer sorts (FlowSchema).
    """

    columns: Callable[[], list[Column]]
    row: RowFn
    conditions: Callable[[Obj], list[dict[str, str]] | None] | None = None
    sort_key: Callable[[Obj], Any] | None = None


# --- field access -----------------------------------------------------------------


def m(obj: Any, key: str) -> Obj:
    """The mapping at ``obj[key]``, or an empty one (a nil struct in Go)."""
    if isinstance(obj, dict):
        v = obj.get(key)
        if isinstance(v, dict):
            return v
    return _EMPTY


def lst(obj: Any, key: str) -> list[Any]:
    """The list at ``obj[key]``, or an empty one."""
    if isinstance(obj, dict):
        v = obj.get(key)
        if isinstance(v, list):
            return v
    return []


def s(obj: Any, key: str, default: str = "") -> str:
    """The string at ``obj[key]``, or ``default``."""
    if isinstance(obj, dict):
        v = obj.get(key)
        if isinstance(v, str):
            return v
    return default


def i(obj: Any, key: str, default: int = 0) -> int:
    """The integer at ``obj[key]`` (bools excluded), or ``default``."""
    if isinstance(obj, dict):
        v = obj.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return default


def b(obj: Any, key: str, default: bool = False) -> bool:
    """The boolean at ``obj[key]``, or ``default``."""
    if isinstance(obj, dict):
        v = obj.get(key)
        if isinstance(v, bool):
            return v
    return default


def has(obj: Any, key: str) -> bool:
    """Whether ``obj[key]`` is set and not null (a non-nil pointer in Go)."""
    return isinstance(obj, dict) and obj.get(key) is not None


def name_of(obj: Obj) -> str:
    """``metadata.name``."""
    return s(m(obj, "metadata"), "name")


# --- time -------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An RFC3339 timestamp as an aware datetime; None for unset, zero or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if dt == _ZERO_TIME:
        return None
    return dt


def human_duration(delta_us: int) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration`` of a microsecond span.

    ~2-3 significant figures: ``45s``, ``5m3s``, ``3h10m``, ``2d3h``, ``400d``,
    ``3y20d``; more than 1s in the future is ``<invalid>`` (clock skew of up to
    2s counts as "now").
    """
    seconds = int(delta_us / 1_000_000) if delta_us >= 0 else -((-delta_us) // 1_000_000)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = delta_us // 60_000_000
    if minutes < 10:
        sec = (delta_us // 1_000_000) % 60
        return f"{minutes}m" if sec == 0 else f"{minutes}m{sec}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = delta_us // 3_600_000_000
    if hours < 8:
        mins = minutes % 60
        return f"{hours}h" if mins == 0 else f"{hours}h{mins}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def span_us(later: datetime, earlier: datetime) -> int:
    """``later - earlier`` in whole microseconds."""
    d = later - earlier
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def since(dt: datetime | None, now: datetime) -> str:
    """``translateTimestampSince``: humanized age, ``<unknown>`` for a zero time."""
    if dt is None:
        return UNKNOWN
    return human_duration(span_us(now, dt))


def age(value: Any, now: datetime) -> str:
    """The age of an RFC3339 timestamp string (``<unknown>`` if unset)."""
    return since(parse_time(value), now)


def meta_age(obj: Obj, now: datetime) -> str:
    """The AGE cell: humanized time since ``metadata.creationTimestamp``."""
    return age(m(obj, "metadata").get("creationTimestamp"), now)


def rfc3339(value: Any) -> str:
    """``metav1.Time.UTC().Format(time.RFC3339)``; the zero time when unset."""
    dt = parse_time(value)
    if dt is None:
        return "0001-01-01T00:00:00Z"
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- labels and selectors -----------------------------------------------------------


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, comma-joined; ``<none>`` if empty."""
    if not isinstance(labels, Mapping) or not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def label_selector_string(selector: Any) -> str | None:
    """``LabelSelectorAsSelector(sel).String()``; None when the selector is invalid.

    A nil or empty selector renders as ``""`` (Nothing/Everything).
    """
    if not isinstance(selector, Mapping):
        return ""
    reqs: list[tuple[str, str]] = []
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping):
        for k, v in match_labels.items():
            reqs.append((str(k), f"{k}={v}"))
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            return None
        key = s(expr, "key")
        op = s(expr, "operator")
        values = [str(v) for v in expr.get("values") or []]
        if op in ("In", "NotIn"):
            if not values:
                return None
            word = " in " if op == "In" else " notin "
            reqs.append((key, f"{key}{word}({','.join(sorted(values))})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return None
            reqs.append((key, key if op == "Exists" else "!" + key))
        else:
            return None
    reqs.sort(key=lambda r: r[0])
    return ",".join(r[1] for r in reqs)


def format_label_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``<none>`` when empty, ``<error>`` when invalid."""
    out = label_selector_string(selector)
    if out is None:
        return "<error>"
    return out or NONE


def layout_containers(containers: Iterable[Any]) -> tuple[str, str]:
    """``layoutContainerCells``: comma-joined container names and images."""
    names: list[str] = []
    images: list[str] = []
    for c in containers:
        names.append(s(c, "name"))
        images.append(s(c, "image"))
    return ",".join(names), ",".join(images)


def pod_template_containers(obj: Obj) -> list[Any]:
    """``spec.template.spec.containers`` of a workload."""
    return lst(m(m(m(obj, "spec"), "template"), "spec"), "containers")


# --- quantities -------------------------------------------------------------------

_QTY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$")
_BIN = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DEC_SUFFIX = {v: k for k, v in _DEC.items()}
_BIN_SUFFIX = {v: k for k, v in _BIN.items()}


@functools.lru_cache(maxsize=4096)
def _canonical(text: str) -> str:
    mt = _QTY_RE.match(text.strip())
    if mt is None:
        return text
    num, suffix, exp = mt.group(1), mt.group(2), mt.group(3)
    try:
        value = Decimal(num)
    except InvalidOperation:  # pragma: no cover - the regex only admits decimals
        return text
    fmt = "dec"
    if suffix in _BIN:
        value = value * (2 ** _BIN[suffix])
        fmt = "bin"
    elif exp is not None:
        value = value.scaleb(int(exp))
        fmt = "exp"
    elif suffix:
        value = value.scaleb(_DEC[suffix])
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if fmt == "bin" and (value < 1024 or value != value.to_integral_value()):
        fmt = "dec"
    if fmt == "bin":
        n = int(value)
        e = 0
        while e < 60 and n % 1024 == 0:
            n //= 1024
            e += 10
        return f"{sign}{n}{_BIN_SUFFIX.get(e, '')}"
    n = int(value.scaleb(9).quantize(Decimal(1), rounding=ROUND_UP))
    e = -9
    while e < 18 and n % 1000 == 0:
        n //= 1000
        e += 3
    if fmt == "exp":
        return f"{sign}{n}" if e == 0 else f"{sign}{n}e{e}"
    return f"{sign}{n}{_DEC_SUFFIX[e]}"


def quantity(value: Any) -> str:
    """``resource.Quantity.String()``: the canonical form (``1024Mi`` → ``1Gi``).

    Unset is the zero quantity ``0``; text that is not a quantity passes through.
    """
    if value is None:
        return "0"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return str(value)
    return _canonical(value)


# --- column definitions -----------------------------------------------------------


@functools.cache
def doc(definition: str, field: str) -> str:
    """The OpenAPI description of ``definition.field`` (Go's ``SwaggerDoc()[field]``).

    Upstream sometimes asks for a field that does not exist (``ObjectMeta`` has
    no ``handler``); that yields ``""`` there and here.
    """
    schema = load_definitions().get(definition) or {}
    prop = (schema.get("properties") or {}).get(field) or {}
    desc = prop.get("description")
    return desc if isinstance(desc, str) else ""


def core(kind: str, field: str) -> str:
    """Description of a field of a ``core/v1`` type."""
    return doc(f"io.k8s.api.core.v1.{kind}", field)


def col(name: str, type_: str = "string", desc: str = "", *, priority: int = 0, fmt: str = "") -> Column:
    """One ``metav1.TableColumnDefinition`` as wire JSON."""
    return {"name": name, "type": type_, "format": fmt, "description": desc, "priority": priority}


def name_col(priority: int = 0) -> Column:
    """The NAME column every printer starts with."""
    return col(
        "Name",
        desc=doc("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "name"),
        fmt="name",
        priority=priority,
    )


def age_col() -> Column:
    """The AGE column: a humanized string, not a date."""
    return col("Age", desc=doc("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "creationTimestamp"))


CONTAINERS_DESC = "Names of each container in the template."
IMAGES_DESC = "Images referenced by each container in the template."


def containers_cols() -> list[Column]:
    """The wide CONTAINERS and IMAGES columns of workload printers."""
    return [col("Containers", desc=CONTAINERS_DESC, priority=1), col("Images", desc=IMAGES_DESC, priority=1)]
