"""Validation of Node (core/v1), as upstream's validation package words it.

The spec only (``ValidateNode`` on create, ``ValidateNodeUpdate`` on a spec
change; a status write — the node agents' heartbeats — is not checked here):

* taints: a qualified-name key, a label value, an effect of ``NoSchedule``,
  ``PreferNoSchedule`` or ``NoExecute``, each key and effect pair once —
  reported under ``metadata.taints``, the path upstream uses;
* on create, the pod CIDRs: valid CIDRs, at most one per IP family, no repeats;
* on update: a set pod CIDR or provider ID never changes, ``externalID``
  never changes, a ``configSource`` names exactly one valid ConfigMap.

``podCIDR`` alone stands for ``podCIDRs: [podCIDR]``, as the v1 conversion makes it.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from pinnace.api import names
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.validation import core
from pinnace.api.validation.field import GoValue, Validator, duplicate, forbidden, invalid, not_supported, required
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_str as _str

__all__ = ["VALIDATORS", "node", "taints"]

Obj = dict[str, Any]

_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_CIDR_CHANGED = 'node updates may not change podCIDR except from "" to valid'
#: Where upstream prints a pointer inside a struct (an address; any one will do).
_POINTER = "0xc000010000"


def _go_taint(taint: Obj) -> GoValue:
    """``%#v`` of a ``core.Taint``."""
    added = "(*v1.Time)(nil)" if taint.get("timeAdded") is None else f"(*v1.Time)({_POINTER})"
    return GoValue(
        "core.Taint{Key:"
        + go_quote(_str(taint.get("key")))
        + ", Value:"
        + go_quote(_str(taint.get("value")))
        + ", Effect:"
        + go_quote(_str(taint.get("effect")))
        + f", TimeAdded:{added}}}"
    )


def taints(items: Any, path: str) -> list[Cause]:
    """``validateNodeTaints``: keys, values, effects, and each key and effect pair once."""
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(items if isinstance(items, list) else []):
        taint = _dict(taint)
        where = f"{path}[{i}]"
        key, value, effect = _str(taint.get("key")), _str(taint.get("value")), _str(taint.get("effect"))
        out.extend(invalid(f"{where}.key", key, msg) for msg in names.is_qualified_name(key))
        problems = names.is_valid_label_value(value)
        if problems:
            out.append(invalid(f"{where}.value", value, ";".join(problems)))
        if not effect:
            out.append(required(f"{where}.effect"))
        elif effect not in _TAINT_EFFECTS:
            out.append(not_supported(f"{where}.effect", effect, _TAINT_EFFECTS))
        if (key, effect) in seen:
            shown = _go_taint(taint).text
            message = f"Duplicate value: {shown}: taints must be unique by key and effect pair"
            out.append(Cause("FieldValueDuplicate", message, where))
            continue
        seen.add((key, effect))
    return out


@functools.lru_cache(maxsize=256)
def _cidr_family(text: str) -> int | None:
    """4 or 6 for a CIDR as Go's ``ParseCIDR`` (sloppy: IPv4 octets may have leading zeros) reads it, else None."""
    address, slash, mask = text.partition("/")
    if not slash or not mask or not mask.isascii() or not mask.isdigit() or len(mask) > 8:
        return None
    if "%" in address:
        return None  # (no zones in a CIDR)
    if ":" in address:
        try:
            ip = ipaddress.IPv6Address(address)
        except ValueError:
            return None
        bits, family = 128, 4 if ip.ipv4_mapped is not None else 6
    else:
        octets = address.split(".")
        if len(octets) != 4 or not all(o.isascii() and o.isdigit() and int(o) <= 255 for o in octets):
            return None
        bits, family = 32, 4
    return family if int(mask) <= bits else None


def _pod_cidrs(spec: Obj) -> list[str]:
    """The node's pod CIDRs (``podCIDRs``, else the single ``podCIDR``)."""
    listed = spec.get("podCIDRs")
    if isinstance(listed, list) and listed:
        return [str(c) for c in listed]
    single = spec.get("podCIDR")
    return [single] if isinstance(single, str) and single else []


def _pod_cidr_problems(cidrs: list[str]) -> list[Cause]:
    """``ValidateNode``'s pod CIDR rules."""
    path = "spec.podCIDRs"
    out = [invalid(f"{path}[{i}]", cidrs, "must be valid CIDR") for i, c in enumerate(cidrs) if _cidr_family(c) is None]
    if len(cidrs) < 2:
        return out
    families = [_cidr_family(c) for c in cidrs]
    bad = next((c for c, family in zip(cidrs, families, strict=True) if family is None), None)
    if bad is not None:
        detail = (
            "invalid PodCIDRs. failed to check with dual stack with error:"
            f"failed to parse cidr value:{go_quote(bad)} with error:invalid CIDR address: {bad}"
        )
        out.append(Cause("InternalError", f"Internal error: {detail}", path))
    if bad is not None or set(families) != {4, 6} or len(cidrs) > 2:
        out.append(invalid(path, cidrs, "may specify no more than one CIDR for each IP family"))
    seen: set[str] = set()
    for i, cidr in enumerate(cidrs):
        if cidr in seen:
            out.append(duplicate(f"{path}[{i}]", cidr))
        seen.add(cidr)
    return out


def _config_source(source: Obj, path: str) -> list[Cause]:
    """``validateNodeConfigSourceSpec``: exactly one ConfigMap reference, without uid or resourceVersion."""
    config_map = source.get("configMap")
    if config_map is None:
        shown = GoValue("core.NodeConfigSource{ConfigMap:(*core.ConfigMapNodeConfigSource)(nil)}")
        return [invalid(path, shown, "exactly one reference subfield must be non-nil")]
    ref, where = _dict(config_map), f"{path}.configMap"
    out: list[Cause] = []
    if ref.get("uid"):
        out.append(forbidden(f"{where}.uid", "uid must not be set in spec"))
    if ref.get("resourceVersion"):
        out.append(forbidden(f"{where}.resourceVersion", "resourceVersion must not be set in spec"))
    namespace, name, key = _str(ref.get("namespace")), _str(ref.get("name")), _str(ref.get("kubeletConfigKey"))
    if not namespace:
        out.append(required(f"{where}.namespace", "namespace must be set"))
    else:
        out.extend(invalid(f"{where}.namespace", namespace, m) for m in names.is_dns1123_label(namespace))
    if not name:
        out.append(required(f"{where}.name", "name must be set"))
    else:
        out.extend(invalid(f"{where}.name", name, m) for m in names.is_dns1123_subdomain(name))
    if not key:
        out.append(required(f"{where}.kubeletConfigKey", "kubeletConfigKey must be set"))
    else:
        out.extend(invalid(f"{where}.kubeletConfigKey", key, m) for m in core.config_key_problems(key))
    return out


def node(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateNode`` (create) or ``ValidateNodeUpdate`` (a spec change), the spec's rules."""
    spec = _dict(obj.get("spec"))
    if old is None:
        out = taints(spec.get("taints"), "metadata.taints") if spec.get("taints") else []
        cidrs = _pod_cidrs(spec)
        if cidrs:
            out.extend(_pod_cidr_problems(cidrs))
        return out
    old_spec = _dict(old.get("spec"))
    out = []
    before, now = _pod_cidrs(old_spec), _pod_cidrs(spec)
    if before:
        if len(before) != len(now):
            out.append(forbidden("spec.podCIDRs", _CIDR_CHANGED))
        else:
            out.extend(forbidden("spec.podCIDRs", _CIDR_CHANGED) for a, b in zip(before, now, strict=True) if a != b)
    provider = _str(old_spec.get("providerID"))
    if provider and provider != _str(spec.get("providerID")):
        out.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    source = spec.get("configSource")
    if isinstance(source, dict):
        out.extend(_config_source(source, "spec.configSource"))
    if spec.get("taints"):
        out.extend(taints(spec.get("taints"), "metadata.taints"))
    if _str(spec.get("externalID")) != _str(old_spec.get("externalID")):
        out.append(forbidden("spec.externalID", "may not be updated"))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {("", "Node"): node}
