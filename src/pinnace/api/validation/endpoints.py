"""Validation of Endpoints (core/v1) and EndpointSlice (discovery.k8s.io), as upstream's validation package words it.

Upstream 1.32's ``ValidateEndpoints`` (``pkg/apis/core/validation``) and
``ValidateEndpointSlice`` (``pkg/apis/discovery/validation``):

* Endpoints: every subset has addresses or not-ready addresses; each address
  has a valid IP (parsed as upstream parses it, octets with leading zeros
  allowed) that is not a special address, a DNS-label hostname, a
  DNS-subdomain node name; ports have names (required when there is more
  than one), numbers 1 to 65535, a protocol (TCP, UDP, SCTP) and a
  qualified-name ``appProtocol``.
* EndpointSlice: the address type is IPv4, IPv6 or FQDN and does not change;
  at most 1000 endpoints, each with 1 to 100 addresses valid for the type, a
  DNS-label hostname, a DNS-subdomain node name, topology labels and zone
  hints; at most 20000 ports with unique DNS-label names, a protocol and a
  qualified-name ``appProtocol``. (Upstream checks neither a slice port's
  number, nor an endpoint's ``zone`` or ``conditions``: neither does this.)

**Deliberate deviation:** upstream refuses loopback addresses (127.0.0.0/8,
``::1``) in both kinds. Pinnace's default ``process`` runtime gives pods
127.0.0.x addresses, and the ``kubernetes`` Service's endpoints are the API
server's own 127.0.0.1, so loopback addresses are allowed here; unspecified,
link-local and link-local multicast addresses are refused as upstream refuses
them.

Defaults upstream applies before validating count as applied when the field
is missing: an Endpoints port's protocol (TCP), a slice port's name (empty)
and protocol (TCP). Values of the wrong JSON type count as missing.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from pinnace.api import names
from pinnace.api.errors import Cause
from pinnace.api.validation import core, field
from pinnace.api.validation.field import Validator, invalid, not_supported, required
from pinnace.api.validation.networking import as_ipv4, parse_ip_sloppy
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_dicts as _dicts
from pinnace.api.validation.shapes import as_str as _text

__all__ = ["VALIDATORS", "endpoint_ip_problems", "endpoint_slice", "endpoints"]

Obj = dict[str, Any]

PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_TOPOLOGY_LABELS = 16
MAX_ZONE_HINTS = 8
#: The zone label that conversion moves out of ``deprecatedTopology`` (upstream reports it as an internal error).
ZONE_LABEL = "topology.kubernetes.io/zone"
CAUSE_TOO_MANY = "FieldValueTooMany"
CAUSE_INTERNAL = "InternalError"

_INVALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _too_many(path: str, count: int, limit: int) -> Cause:
    """``field.TooMany``."""
    return Cause(CAUSE_TOO_MANY, f"Too many: {count}: must have at most {limit} items", path)


@functools.lru_cache(maxsize=4096)
def endpoint_ip_problems(text: str) -> tuple[str, ...]:
    """``ValidateNonSpecialIP``, loopback allowed (see the module's note): what makes ``text`` no endpoint IP."""
    address = parse_ip_sloppy(text)
    if address is None:
        return ("must be a valid IP address",)
    v4 = as_ipv4(address)
    problems: list[str] = []
    if (v4 or address).is_unspecified:
        problems.append(f"may not be unspecified ({text})")
    if (v4 or address).is_link_local:
        problems.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if _link_local_multicast(v4, address):
        problems.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return tuple(problems)


def _link_local_multicast(
    v4: ipaddress.IPv4Address | None, address: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> bool:
    """Go's ``IsLinkLocalMulticast``: 224.0.0.0/24, or ffX2::/16."""
    if v4 is not None:
        return v4.packed[:3] == b"\xe0\x00\x00"
    packed = address.packed
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


def _endpoint_ip(path: str, text: str) -> list[Cause]:
    return [invalid(path, text, msg) for msg in endpoint_ip_problems(text)]


def _node_name(path: str, value: Any) -> list[Cause]:
    """``ValidateNodeName`` of an optional node name (a DNS subdomain)."""
    if value is None:
        return []
    name = _text(value)
    return [invalid(path, name, msg) for msg in names.is_dns1123_subdomain(name)]


def _app_protocol(path: str, value: Any) -> list[Cause]:
    """``ValidateQualifiedName`` of an optional ``appProtocol``."""
    if value is None:
        return []
    protocol = _text(value)
    return [invalid(path, protocol, msg) for msg in names.is_qualified_name(protocol)]


# ---- Endpoints ------------------------------------------------------------------------------------


def _address(address: Obj, path: str) -> list[Cause]:
    """``validateEndpointAddress``: IP, hostname, node name, then the IP is no special address."""
    ip = _text(address.get("ip"))
    out = [] if parse_ip_sloppy(ip) is not None else [invalid(f"{path}.ip", ip, _INVALID_IP)]
    hostname = _text(address.get("hostname"))
    if hostname:
        out.extend(core.dns1123_label(f"{path}.hostname", hostname))
    out.extend(_node_name(f"{path}.nodeName", address.get("nodeName")))
    out.extend(_endpoint_ip(f"{path}.ip", ip))
    return out


def _endpoints_port(port: Obj, name_required: bool, path: str) -> list[Cause]:
    """``validateEndpointPort``."""
    out: list[Cause] = []
    name = _text(port.get("name"))
    if name_required and not name:
        out.append(required(f"{path}.name"))
    elif name:
        out.extend(core.dns1123_label(f"{path}.name", name))
    number = port.get("port")
    number = number if isinstance(number, int) and not isinstance(number, bool) else 0
    out.extend(invalid(f"{path}.port", number, msg) for msg in core.port_number_problems(number))
    protocol = port.get("protocol") or "TCP"  # (empty: upstream's default)
    if protocol not in PORT_PROTOCOLS:
        out.append(not_supported(f"{path}.protocol", protocol, PORT_PROTOCOLS))
    out.extend(_app_protocol(f"{path}.appProtocol", port.get("appProtocol")))
    return out


def endpoints(obj: Obj, old: Obj | None) -> list[Cause]:
    """An Endpoints: its subsets' addresses and ports (the same rules on create and update)."""
    out: list[Cause] = []
    for i, subset in enumerate(_dicts(obj.get("subsets"))):
        path = f"subsets[{i}]"
        ready, not_ready = _dicts(subset.get("addresses")), _dicts(subset.get("notReadyAddresses"))
        if not ready and not not_ready:
            out.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for j, address in enumerate(ready):
            out.extend(_address(address, f"{path}.addresses[{j}]"))
        for j, address in enumerate(not_ready):
            out.extend(_address(address, f"{path}.notReadyAddresses[{j}]"))
        ports = _dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            out.extend(_endpoints_port(port, len(ports) > 1, f"{path}.ports[{j}]"))
    return out


# ---- EndpointSlice --------------------------------------------------------------------------------


def _fqdn(path: str, name: str) -> list[Cause]:
    """``IsFullyQualifiedDomainName``: at most one cause, its messages joined as upstream joins them."""
    if not name:
        return [required(path)]
    name = name.removesuffix(".")
    problems = names.is_dns1123_subdomain(name)
    if problems:
        return [invalid(path, name, ",".join(problems))]
    labels = name.split(".")
    if len(labels) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in labels:
        problems = names.is_dns1123_label(label)
        if problems:
            return [invalid(path, label, ",".join(problems))]
    return []


def _slice_address(address_type: Any, path: str, address: str) -> list[Cause]:
    """An address checked for the slice's type (an unknown type, reported once, checks none)."""
    if address_type == "FQDN":
        return _fqdn(path, address)
    if address_type not in ("IPv4", "IPv6"):
        return []
    parsed = parse_ip_sloppy(address)
    is_v4 = parsed is not None and as_ipv4(parsed) is not None
    out: list[Cause] = []
    if address_type == "IPv4" and not is_v4:
        out.append(invalid(path, address, "must be a valid IPv4 address"))
    elif address_type == "IPv6" and (parsed is None or is_v4):
        out.append(invalid(path, address, "must be a valid IPv6 address"))
    out.extend(_endpoint_ip(path, address))
    return out


def _hints(hints: Obj, path: str) -> list[Cause]:
    """``validateHints``: at most 8 zones, unique, each a label value."""
    zones = _dicts(hints.get("forZones"))
    zones_path = f"{path}.forZones"
    if len(zones) > MAX_ZONE_HINTS:
        return [_too_many(zones_path, len(zones), MAX_ZONE_HINTS)]
    out: list[Cause] = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        name = _text(zone.get("name"))
        name_path = f"{zones_path}[{i}].name"
        if name in seen:
            out.append(field.duplicate(name_path, name))
        seen.add(name)
        out.extend(invalid(name_path, name, msg) for msg in names.is_valid_label_value(name))
    return out


def _slice_endpoint(endpoint: Obj, address_type: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    addresses = endpoint.get("addresses")
    addresses = addresses if isinstance(addresses, list) else []
    if not addresses:
        out.append(required(f"{path}.addresses", "must contain at least 1 address"))
    elif len(addresses) > MAX_ADDRESSES:
        out.append(_too_many(f"{path}.addresses", len(addresses), MAX_ADDRESSES))
    for i, address in enumerate(addresses):
        out.extend(_slice_address(address_type, f"{path}.addresses[{i}]", _text(address)))
    out.extend(_node_name(f"{path}.nodeName", endpoint.get("nodeName")))
    topology = endpoint.get("deprecatedTopology")
    if isinstance(topology, dict):
        topology_path = f"{path}.deprecatedTopology"
        if len(topology) > MAX_TOPOLOGY_LABELS:
            out.append(_too_many(topology_path, len(topology), MAX_TOPOLOGY_LABELS))
        out.extend(names.validate_labels(topology, topology_path))
        if ZONE_LABEL in topology:
            out.append(
                Cause(
                    CAUSE_INTERNAL,
                    "Internal error: reserved key was not removed in conversion",
                    f"{topology_path}[{ZONE_LABEL}]",
                )
            )
    hostname = endpoint.get("hostname")
    if hostname is not None:
        out.extend(core.dns1123_label(f"{path}.hostname", _text(hostname)))
    hints = endpoint.get("hints")
    if hints is not None:
        out.extend(_hints(_dict(hints), f"{path}.hints"))
    return out


def _slice_ports(ports: list[Obj]) -> list[Cause]:
    if len(ports) > MAX_PORTS:
        return [_too_many("ports", len(ports), MAX_PORTS)]
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        name = _text(port.get("name"))  # (missing: upstream's default, "")
        if name:
            out.extend(core.dns1123_label(f"{path}.name", name))
        if name in seen:
            out.append(field.duplicate(f"{path}.name", name))
        seen.add(name)
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PORT_PROTOCOLS:  # (missing: upstream's default, TCP)
            out.append(not_supported(f"{path}.protocol", protocol, PORT_PROTOCOLS))
        out.extend(_app_protocol(f"{path}.appProtocol", port.get("appProtocol")))
    return out


def endpoint_slice(obj: Obj, old: Obj | None) -> list[Cause]:
    """An EndpointSlice: address type, endpoints, ports; the address type never changes."""
    out: list[Cause] = []
    address_type = obj.get("addressType")
    if not address_type:
        out.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        out.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    endpoints_ = obj.get("endpoints")
    endpoints_ = endpoints_ if isinstance(endpoints_, list) else []
    if len(endpoints_) > MAX_ENDPOINTS:
        out.append(_too_many("endpoints", len(endpoints_), MAX_ENDPOINTS))
    else:
        for i, endpoint in enumerate(endpoints_):
            out.extend(_slice_endpoint(_dict(endpoint), address_type, f"endpoints[{i}]"))
    out.extend(_slice_ports(_dicts(obj.get("ports"))))
    if old is not None:
        out.extend(field.immutable("addressType", _text(address_type), _text(old.get("addressType"))))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Endpoints"): endpoints,
    ("discovery.k8s.io", "EndpointSlice"): endpoint_slice,
}
