"""Validation of Ingress, IngressClass and NetworkPolicy (networking.k8s.io), in upstream's wording.

Upstream's ``pkg/apis/networking/validation`` as of 1.32:

* Ingress: a default backend or rules; rule hosts are DNS subdomains (a
  wildcard only as ``*.`` first label, never an IP address); an ``http`` rule
  has paths, each with a ``pathType`` (Exact, Prefix, ImplementationSpecific),
  Exact and Prefix paths absolute and free of ``//``, ``/./``, ``%2f``…;
  every backend is exactly one of a service (a DNS-1035 name and one of a
  port name or number) or a resource; TLS hosts and secret names;
  ``ingressClassName``; on create, the ``kubernetes.io/ingress.class``
  annotation agrees with ``ingressClassName``. On update an invalid TLS
  secret name or wildcard rule already stored is let through (upstream's
  ratchets).
* IngressClass: ``spec.controller`` is a domain-prefixed path of at most 250
  bytes, immutable; its parameters reference has a kind and a name and a
  scope (Cluster, or Namespace with a namespace).
* NetworkPolicy: selectors, ports (protocol, port number or name,
  ``endPort``), peers (one kind each; an ``ipBlock`` has a valid CIDR and
  ``except`` entries strictly inside it), ``policyTypes``.

IPs and CIDRs are parsed as upstream parses them (``netutils.ParseIPSloppy``,
``ParseCIDRSloppy``: IPv4 octets may have leading zeros), by the helpers here
that :mod:`.endpoints` shares. Defaults upstream sets before validating (a
port's protocol TCP, a parameters reference's scope Cluster) count as set when
the field is missing. Objects are the decoded dicts; a value of the wrong
JSON type is treated as missing, never as an error of its own.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from pinnace.api import errors, names
from pinnace.api.errors import Cause
from pinnace.api.validation import core, field
from pinnace.api.validation.field import GoValue, Validator, forbidden, invalid, not_supported, required
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_dicts as _dicts
from pinnace.api.validation.shapes import as_str as _text

__all__ = ["VALIDATORS", "Address", "Network", "as_ipv4", "parse_cidr_sloppy", "parse_ip_sloppy"]

Obj = dict[str, Any]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
PARAMETER_SCOPES = ("Cluster", "Namespace")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MAX_CONTROLLER_LENGTH = 250
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")

_WILDCARD_FMT = "\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of "
    "lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
    f"regex used for validation is '{_WILDCARD_FMT}')"
)
_HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+"
_HTTP_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-._~%!$&'()*+,;=:")
_SUBDOMAIN_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


# ---- IP addresses and CIDRs, parsed as upstream parses them ---------------------------------------

#: Go's ``big``: a decimal or hex run at or past it stops the parse.
_BIG = 0xFFFFFF
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"


def _decimal(text: str) -> tuple[int, int] | None:
    """Go's ``dtoi``: the value of the leading decimal digits and how many there were (None if none)."""
    value = count = 0
    for ch in text:
        if ch not in _DIGITS:
            break
        value = value * 10 + ord(ch) - 48
        count += 1
        if value >= _BIG:
            return None
    return (value, count) if count else None


def _hexadecimal(text: str) -> tuple[int, int] | None:
    """Go's ``xtoi``: the value of the leading hex digits and how many there were (None if none)."""
    value = count = 0
    for ch in text:
        if ch not in _HEX:
            break
        value = value * 16 + int(ch, 16)
        count += 1
        if value >= _BIG:
            return None
    return (value, count) if count else None


def _ipv4_bytes(text: str) -> bytes | None:
    """The four bytes of a dotted IPv4 address, octets with leading zeros allowed (Go 1.16's ``parseIPv4``)."""
    octets = bytearray()
    rest = text
    for i in range(4):
        if not rest:
            return None
        if i:
            if rest[0] != ".":
                return None
            rest = rest[1:]
        parsed = _decimal(rest)
        if parsed is None or parsed[0] > 0xFF:
            return None
        octets.append(parsed[0])
        rest = rest[parsed[1] :]
    return bytes(octets) if not rest else None


def _ipv6_bytes(text: str) -> bytes | None:
    """The sixteen bytes of an IPv6 address, possibly ending in dotted IPv4 (Go 1.16's ``parseIPv6``: no zone)."""
    ip = bytearray(16)
    ellipsis = -1
    rest = text
    if rest.startswith("::"):
        ellipsis = 0
        rest = rest[2:]
        if not rest:
            return bytes(ip)
    i = 0
    while i < 16:
        parsed = _hexadecimal(rest)
        if parsed is None or parsed[0] > 0xFFFF:
            return None
        value, used = parsed
        if used < len(rest) and rest[used] == ".":
            if (ellipsis < 0 and i != 12) or i + 4 > 16:
                return None
            v4 = _ipv4_bytes(rest)
            if v4 is None:
                return None
            ip[i : i + 4] = v4
            rest = ""
            i += 4
            break
        ip[i], ip[i + 1] = value >> 8, value & 0xFF
        i += 2
        rest = rest[used:]
        if not rest:
            break
        if rest[0] != ":" or len(rest) == 1:
            return None
        rest = rest[1:]
        if rest[0] == ":":
            if ellipsis >= 0:
                return None
            ellipsis = i
            rest = rest[1:]
            if not rest:
                break
    if rest:
        return None
    if i < 16:
        if ellipsis < 0:
            return None
        gap = 16 - i
        ip[ellipsis + gap : 16] = ip[ellipsis:i]
        ip[ellipsis : ellipsis + gap] = bytes(gap)
    elif ellipsis >= 0:
        return None
    return bytes(ip)


@functools.lru_cache(maxsize=4096)
def parse_ip_sloppy(text: str) -> Address | None:
    """``netutils.ParseIPSloppy``: the address, or None if ``text`` is not one (an IPv4-mapped IPv6 address
    stays IPv6 here: :func:`as_ipv4` is Go's ``To4``)."""
    for ch in text:
        if ch == ".":
            v4 = _ipv4_bytes(text)
            return ipaddress.IPv4Address(v4) if v4 is not None else None
        if ch == ":":
            v6 = _ipv6_bytes(text)
            return ipaddress.IPv6Address(v6) if v6 is not None else None
    return None


def as_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """Go's ``IP.To4``: the IPv4 address itself, or the one an IPv4-mapped IPv6 address carries."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    return address.ipv4_mapped


@functools.lru_cache(maxsize=1024)
def parse_cidr_sloppy(text: str) -> Network | None:
    """``netutils.ParseCIDRSloppy``: the network (host bits cleared), or None if ``text`` is not a CIDR."""
    address, slash, mask = text.partition("/")
    if not slash:
        return None
    v4 = _ipv4_bytes(address)
    v6 = None if v4 is not None else _ipv6_bytes(address)
    bits = 32 if v4 is not None else 128
    prefix = _decimal(mask)
    if (v4 is None and v6 is None) or prefix is None or prefix[1] != len(mask) or prefix[0] > bits:
        return None
    if v4 is not None:
        return ipaddress.IPv4Network((v4, prefix[0]), strict=False)
    return ipaddress.IPv6Network((v6, prefix[0]), strict=False)


def _go_contains(network: Network, address: Address) -> bool:
    """Go's ``IPNet.Contains``: both sides are compared as IPv4 when they are IPv4 (mapped or not)."""
    net_v4 = as_ipv4(network.network_address)
    if isinstance(network, ipaddress.IPv6Network) and net_v4 is None:
        return isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None and address in network
    v4 = as_ipv4(address)
    if v4 is None or net_v4 is None:
        return False
    prefix = network.prefixlen if isinstance(network, ipaddress.IPv4Network) else max(network.prefixlen - 96, 0)
    return v4 in ipaddress.IPv4Network((net_v4, prefix), strict=False)


# ---- shared helpers -------------------------------------------------------------------------------


def _port_number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _each(path: str, value: str, messages: list[str] | tuple[str, ...]) -> list[Cause]:
    return [invalid(path, value, msg) for msg in messages]


def _wildcard_subdomain_problems(value: str) -> list[str]:
    """``IsWildcardDNS1123Subdomain``: ``*.`` and then a DNS subdomain."""
    problems = []
    if len(value) > names.DNS1123_SUBDOMAIN_MAX_LENGTH:
        problems.append(f"must be no more than {names.DNS1123_SUBDOMAIN_MAX_LENGTH} characters")
    rest = value[2:] if value.startswith("*.") else None
    if rest is None or not rest or any(_label_problem(label) for label in rest.split(".")):
        problems.append(_WILDCARD_MSG)
    return problems


def _label_problem(label: str) -> bool:
    return not label or not set(label) <= _SUBDOMAIN_LABEL_CHARS or label[0] == "-" or label[-1] == "-"


def _host_problems(host: str) -> list[str]:
    """A host of a rule or a TLS entry: a wildcard subdomain if it has a ``*``, a DNS subdomain otherwise."""
    return _wildcard_subdomain_problems(host) if "*" in host else names.is_dns1123_subdomain(host)


def _typed_reference(ref: Obj, path: str) -> list[Cause]:
    """``validateIngressTypedLocalObjectReference``: an optional API group, a kind and a name."""
    out: list[Cause] = []
    group = ref.get("apiGroup")
    if isinstance(group, str):
        out.extend(_each(f"{path}.apiGroup", group, names.is_dns1123_subdomain(group)))
    for key in ("kind", "name"):
        value = _text(ref.get(key))
        if not value:
            out.append(required(f"{path}.{key}", f"{key} is required"))
        else:
            out.extend(_each(f"{path}.{key}", value, names.is_path_segment_name(value)))
    return out


# ---- Ingress --------------------------------------------------------------------------------------


def _backend(backend: Obj, path: str) -> list[Cause]:
    """``validateIngressBackend``: exactly one of a resource or a service with a name and one port."""
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return _typed_reference(_dict(resource), f"{path}.resource")
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    service = _dict(service)
    out: list[Cause] = []
    name = _text(service.get("name"))
    if not name:
        out.append(required(f"{path}.service.name"))
    else:
        out.extend(_each(f"{path}.service.name", name, names.is_dns1035_label(name)))
    port = _dict(service.get("port"))
    port_name, port_number = _text(port.get("name")), _port_number(port.get("number"))
    if port_name and port_number:
        out.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        out.extend(_each(f"{path}.service.port.name", port_name, core.port_name_problems(port_name)))
    elif port_number:
        out.extend(
            invalid(f"{path}.service.port.number", port_number, m) for m in core.port_number_problems(port_number)
        )
    else:
        out.append(required(path, "port name or number is required"))
    return out


def _http_path(entry: Obj, path: str) -> list[Cause]:
    """``validateHTTPIngressPath``: a path type, a path that fits it, a backend."""
    path_type = entry.get("pathType")
    if path_type is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    out: list[Cause] = []
    value = _text(entry.get("path"))
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            out.append(invalid(f"{path}.path", value, "must be an absolute path"))
        out.extend(
            invalid(f"{path}.path", value, f"must not contain '{seq}'")
            for seq in _INVALID_PATH_SEQUENCES
            if seq in value
        )
        out.extend(
            invalid(f"{path}.path", value, f"cannot end with '{suffix}'")
            for suffix in _INVALID_PATH_SUFFIXES
            if value.endswith(suffix)
        )
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            out.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        out.append(not_supported(f"{path}.pathType", path_type, PATH_TYPES))
    out.extend(_backend(_dict(entry.get("backend")), f"{path}.backend"))
    return out


def _rule_value(rule: Obj, path: str) -> list[Cause]:
    """``validateIngressRuleValue``: an ``http`` rule has paths, each valid."""
    http = rule.get("http")
    if http is None:
        return []
    paths = _dicts(_dict(http).get("paths"))
    out = [] if paths else [required(f"{path}.http.paths")]
    for i, entry in enumerate(paths):
        out.extend(_http_path(entry, f"{path}.http.paths[{i}]"))
    return out


def _rules(rules: list[Obj], *, keep_wildcard_rules: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(rules):
        path = f"spec.rules[{i}]"
        host = _text(rule.get("host"))
        wildcard = "*" in host
        if host:
            if parse_ip_sloppy(host) is not None:
                out.append(invalid(f"{path}.host", host, "must be a DNS name, not an IP address"))
            out.extend(_each(f"{path}.host", host, _host_problems(host)))
        if not (wildcard and keep_wildcard_rules):
            out.extend(_rule_value(rule, path))
    return out


def _tls(entries: list[Obj], *, keep_secret_names: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, entry in enumerate(entries):
        hosts = entry.get("hosts")
        for j, host in enumerate(hosts if isinstance(hosts, list) else []):
            host = _text(host)
            out.extend(_each(f"spec.tls[{i}].hosts[{j}]", host, _host_problems(host)))
        secret = _text(entry.get("secretName"))
        if secret and not keep_secret_names:
            out.extend(_each(f"spec.tls[{i}].secretName", secret, names.is_dns1123_subdomain(secret)))
    return out


def _has_invalid_secret_name(spec: Obj) -> bool:
    """upstream's ``allowInvalidSecretName``: the stored object already has a TLS secret name that is not valid."""
    return any(
        names.is_dns1123_subdomain(secret)
        for entry in _dicts(spec.get("tls"))
        if (secret := _text(entry.get("secretName")))
    )


def _has_invalid_wildcard_rule(spec: Obj) -> bool:
    """upstream's ``allowInvalidWildcardHostRule``: the stored object has a wildcard-host rule that is not valid."""
    return any("*" in _text(rule.get("host")) and _rule_value(rule, "") for rule in _dicts(spec.get("rules")))


def ingress(obj: Obj, old: Obj | None) -> list[Cause]:
    """An Ingress: rules, backends, TLS and class name; on create, the class annotation agrees with the field."""
    spec = _dict(obj.get("spec"))
    old_spec = _dict(old.get("spec")) if old is not None else {}
    out: list[Cause] = []
    rules = _dicts(spec.get("rules"))
    default_backend = spec.get("defaultBackend")
    if not rules and default_backend is None:
        out.append(
            invalid(
                "spec", GoValue("[]networking.IngressRule(nil)"), "either `defaultBackend` or `rules` must be specified"
            )
        )
    if default_backend is not None:
        out.extend(_backend(_dict(default_backend), "spec.defaultBackend"))
    out.extend(_rules(rules, keep_wildcard_rules=old is not None and _has_invalid_wildcard_rule(old_spec)))
    out.extend(_tls(_dicts(spec.get("tls")), keep_secret_names=old is not None and _has_invalid_secret_name(old_spec)))
    class_name = spec.get("ingressClassName")
    if isinstance(class_name, str):
        out.extend(_each("spec.ingressClassName", class_name, names.is_dns1123_subdomain(class_name)))
    if old is None:
        annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
        annotation = annotations.get(INGRESS_CLASS_ANNOTATION)
        if isinstance(annotation, str) and isinstance(class_name, str) and annotation != class_name:
            out.append(
                invalid(
                    f"annotations.{INGRESS_CLASS_ANNOTATION}",
                    annotation,
                    "must match `ingressClassName` when both are specified",
                )
            )
    return out


# ---- IngressClass ---------------------------------------------------------------------------------


def _domain_prefixed_path(path: str, value: str) -> list[Cause]:
    """``IsDomainPrefixedPath``: ``<DNS subdomain>/<HTTP path characters>``."""
    if not value:
        return [required(path)]
    host, slash, rest = value.partition("/")
    if not slash or not host or not rest:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    out = _each(path, host, names.is_dns1123_subdomain(host))
    if not set(rest) <= _HTTP_PATH_CHARS:
        out.append(invalid(path, rest, f"Invalid path (regex used for validation is '{_HTTP_PATH_FMT}')"))
    return out


def _parameters(params: Obj, path: str) -> list[Cause]:
    """``validateIngressClassParametersReference``: kind, name, and a scope with its namespace rule.

    A missing scope is upstream's default, Cluster.
    """
    out = _typed_reference(params, path)
    scope = params.get("scope")
    if scope is None:
        scope = "Cluster"
    namespace = params.get("namespace")
    if scope not in PARAMETER_SCOPES:
        out.append(not_supported(f"{path}.scope", scope, PARAMETER_SCOPES))
    elif scope == "Namespace":
        if namespace is None:
            out.append(required(f"{path}.namespace", "`parameters.scope` is set to 'Namespace'"))
        else:
            namespace = _text(namespace)
            out.extend(_each(f"{path}.namespace", namespace, names.is_dns1123_label(namespace)))
    elif namespace is not None:
        out.append(forbidden(f"{path}.namespace", "`parameters.scope` is set to 'Cluster'"))
    return out


def ingress_class(obj: Obj, old: Obj | None) -> list[Cause]:
    """An IngressClass: a domain-prefixed controller (immutable) and a valid parameters reference."""
    spec = _dict(obj.get("spec"))
    controller = _text(spec.get("controller"))
    out: list[Cause] = []
    if old is not None:
        out.extend(field.immutable("spec.controller", controller, _text(_dict(old.get("spec")).get("controller"))))
    if len(controller.encode()) > MAX_CONTROLLER_LENGTH:
        out.append(errors.too_long("spec.controller", MAX_CONTROLLER_LENGTH))
    out.extend(_domain_prefixed_path("spec.controller", controller))
    params = spec.get("parameters")
    if params is not None:
        out.extend(_parameters(_dict(params), "spec.parameters"))
    return out


# ---- NetworkPolicy --------------------------------------------------------------------------------


def _policy_port(port: Obj, path: str) -> list[Cause]:
    """``ValidateNetworkPolicyPort``: protocol, a port number or name, and an ``endPort`` only after a number."""
    out: list[Cause] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:  # (missing: upstream's default, TCP)
        out.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    number, end = port.get("port"), port.get("endPort")
    if isinstance(number, str):
        if end is not None:
            out.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric"))
        out.extend(_each(f"{path}.port", number, core.port_name_problems(number)))
    elif number is not None:
        number = _port_number(number)
        out.extend(invalid(f"{path}.port", number, m) for m in core.port_number_problems(number))
        if end is not None:
            end_number = _port_number(end)
            if end_number < number:  # upstream (1.32) shows the port here, not the end port
                out.append(invalid(f"{path}.endPort", number, "must be greater than or equal to `port`"))
            out.extend(invalid(f"{path}.endPort", end_number, m) for m in core.port_number_problems(end_number))
    elif end is not None:
        out.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is not specified"))
    return out


def _ip_block(block: Obj, path: str) -> list[Cause]:
    """``ValidateIPBlock`` (1.32): a valid CIDR; each ``except`` a valid CIDR strictly inside it."""
    cidr = _text(block.get("cidr"))
    if not cidr:
        return [required(f"{path}.cidr")]
    network = parse_cidr_sloppy(cidr)
    if network is None:
        return [invalid(f"{path}.cidr", cidr, "not a valid CIDR")]
    out: list[Cause] = []
    excepts = block.get("except")
    for i, entry in enumerate(excepts if isinstance(excepts, list) else []):
        entry = _text(entry)
        inner = parse_cidr_sloppy(entry)
        if inner is None:
            out.append(invalid(f"{path}.except[{i}]", entry, "not a valid CIDR"))
            return out  # upstream stops at the first bad entry
        if not _go_contains(network, inner.network_address) or network.prefixlen >= inner.prefixlen:
            out.append(invalid(f"{path}.except[{i}]", entry, "must be a strict subset of `cidr`"))
    return out


def _peer(peer: Obj, path: str) -> list[Cause]:
    """``ValidateNetworkPolicyPeer``: at least one selector or an ipBlock, an ipBlock alone."""
    out: list[Cause] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        selector = peer.get(key)
        if selector is not None:
            count += 1
            out.extend(core.label_selector(selector, f"{path}.{key}"))
    block = peer.get("ipBlock")
    if block is not None:
        count += 1
        out.extend(_ip_block(_dict(block), f"{path}.ipBlock"))
    if count == 0:
        out.append(required(path, "must specify a peer"))
    elif count > 1 and block is not None:
        out.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return out


def network_policy(obj: Obj, old: Obj | None) -> list[Cause]:
    """A NetworkPolicy: its pod selector, its rules' ports and peers, its policy types."""
    spec = _dict(obj.get("spec"))
    out = core.label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_dicts(spec.get(direction))):
            path = f"spec.{direction}[{i}]"
            for j, port in enumerate(_dicts(rule.get("ports"))):
                out.extend(_policy_port(port, f"{path}.ports[{j}]"))
            for j, peer in enumerate(_dicts(rule.get(peers))):
                out.extend(_peer(peer, f"{path}.{peers}[{j}]"))
    types = spec.get("policyTypes")
    types = types if isinstance(types, list) else []
    if len(types) > len(POLICY_TYPES):
        shown = GoValue("[]networking.PolicyType{" + ", ".join(field.go_value(_text(t)) for t in types) + "}")
        out.append(invalid("spec.policyTypes", shown, "may not specify more than two policyTypes"))
        return out
    for i, policy_type in enumerate(types):
        if policy_type not in POLICY_TYPES:
            out.append(not_supported(f"spec.policyTypes[{i}]", policy_type, POLICY_TYPES))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {
    ("networking.k8s.io", "Ingress"): ingress,
    ("networking.k8s.io", "IngressClass"): ingress_class,
    ("networking.k8s.io", "NetworkPolicy"): network_policy,
}
