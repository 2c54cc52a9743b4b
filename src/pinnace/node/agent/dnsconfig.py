"""A pod's resolver configuration, as the kubelet forms it (``GetPodDNS``), and the pod's host name and domain.

Pure but for :func:`read_resolv_conf` (the host's ``--resolv-conf``, parsed by
:func:`parse_resolv_conf`): :func:`pod_dns` turns a pod's
``dnsPolicy``, ``hostNetwork`` and ``dnsConfig`` plus the agent's
``clusterDNS``/``clusterDomain`` into the nameservers, search domains and
options its sandbox gets, with the events the kubelet records on the way:

- ``ClusterFirst`` (the default; not hostNetwork) and ``ClusterFirstWithHostNet``:
  the cluster's nameservers only, searches ``<ns>.svc.<domain> svc.<domain>
  <domain>`` followed by the host's, options ``ndots:5``. Without clusterDNS the
  pod falls back to ``Default`` (a ``MissingClusterDNS`` warning);
- ``ClusterFirst`` on hostNetwork, and ``Default``: the host's resolv.conf (with no
  resolv.conf at all, ``127.0.0.1`` — ``::1`` on an IPv6 node — and search ``.``);
- ``None``: nothing but the pod's dnsConfig.

The pod's ``dnsConfig`` is then added: its nameservers and searches appended
(duplicates dropped), its options merged by name (the pod's value wins). Last
the limits: 3 nameservers, 32 search domains of at most 253 characters and
2048 characters in all (the rest is cut, with a ``DNSConfigForming`` warning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_NAMESERVERS",
    "MAX_SEARCH_CHARS",
    "MAX_SEARCH_PATHS",
    "DNSSettings",
    "PodDNS",
    "ResolvConf",
    "host_aliases",
    "host_domain",
    "node_ref",
    "parse_resolv_conf",
    "pod_dns",
    "pod_dns_policy",
    "read_resolv_conf",
]

log = logging.getLogger(__name__)

#: Upstream's limits (validation.MaxDNSNameservers, MaxDNSSearchPaths/ListChars with ExpandedDNSConfig, GA in 1.28).
MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
#: A longer search domain makes some resolvers (glibc 2.28) abort: upstream drops it (DNS1123SubdomainMaxLength).
MAX_SEARCH_PATH_LENGTH = 253
DEFAULT_OPTIONS = ("ndots:5",)
#: A resolv.conf larger than this is refused (upstream's maxResolveConfLength).
MAX_RESOLV_CONF_BYTES = 10 << 20

CLUSTER_FIRST = "ClusterFirst"
CLUSTER_FIRST_WITH_HOST_NET = "ClusterFirstWithHostNet"
DEFAULT = "Default"
NONE = "None"

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DNSSettings:
    """The kubelet's DNS settings (clusterDNS, clusterDomain, --resolv-conf: "" for none) and its node's name."""

    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"
    node_name: str = ""


@dataclass(frozen=True, slots=True)
class ResolvConf:
    """What a resolv.conf says: its nameservers, search domains and options."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodDNS:
    """A pod's resolver configuration (CRI DNSConfig) and the warnings to record while forming it.

    ``events`` are (reason, message) pairs about the pod; ``node_events`` about the node (upstream tells both
    when clusterDNS is missing).
    """

    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    events: tuple[tuple[str, str], ...] = field(default=())
    node_events: tuple[tuple[str, str], ...] = field(default=())


def parse_resolv_conf(text: str) -> ResolvConf:
    """Parse resolv.conf text as the kubelet does: ``nameserver`` lines add up, the last ``search`` and the last
    ``options`` line win, comments (``#``, ``;``) and other keywords are skipped.

    Search domains lose a trailing dot (``example.com.`` counts as ``example.com``; ``.`` itself stays). A
    ``domain`` line stands for the search list when the file has no ``search`` line (as glibc reads it).
    """
    nameservers: list[str] = []
    searches: list[str] | None = None
    domain: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", ";")):
            continue
        fields = stripped.split()
        if not fields:
            continue
        keyword, values = fields[0], fields[1:]
        if keyword == "nameserver" and values:
            nameservers.append(values[0])
        elif keyword == "search":
            searches = [_trim_dot(s) for s in values]
        elif keyword == "domain" and values:
            domain = [_trim_dot(values[0])]
        elif keyword == "options":
            options = list(values)
    return ResolvConf(tuple(nameservers), tuple(searches if searches is not None else domain), tuple(options))


def read_resolv_conf(path: str) -> ResolvConf | None:
    """The parsed resolv.conf at ``path`` (None for ""); OSError, worded as the kubelet's, if it cannot be read."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_RESOLV_CONF_BYTES + 1)
    except OSError as exc:
        raise OSError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from exc
    if len(text) > MAX_RESOLV_CONF_BYTES:
        raise OSError(f"{path}: more than {MAX_RESOLV_CONF_BYTES} bytes")
    return parse_resolv_conf(text)


def node_ref(node_name: str) -> dict[str, Any]:
    """The Node as an event's object, as the kubelet refers to its node (its name as UID too)."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "uid": node_name}}


def _trim_dot(domain: str) -> str:
    return domain if domain == "." else domain.removesuffix(".")


def pod_dns_policy(pod: Obj) -> str:
    """The pod's dnsPolicy, defaulted as the API server does (ClusterFirst)."""
    return str((pod.get("spec") or {}).get("dnsPolicy") or CLUSTER_FIRST)


def pod_dns(
    pod: Obj,
    *,
    cluster_dns: Sequence[str],
    cluster_domain: str,
    host: ResolvConf | None,
    node_ip: str = "127.0.0.1",
) -> PodDNS:
    """The pod's resolver configuration (see the module docstring). ``host``: the parsed ``--resolv-conf``, None
    when the agent has none (``--resolv-conf=""``)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    policy = pod_dns_policy(pod)
    host_network = bool(spec.get("hostNetwork"))
    events: list[tuple[str, str]] = []
    node_events: list[tuple[str, str]] = []
    base = host or ResolvConf()
    servers, searches, options = list(base.nameservers), list(base.searches), list(base.options)

    if policy == NONE:
        kind = "none"
    elif policy == CLUSTER_FIRST_WITH_HOST_NET or (policy == CLUSTER_FIRST and not host_network):
        kind = "cluster"
    elif policy in (CLUSTER_FIRST, DEFAULT):
        kind = "host"
    else:  # the API server rejects any other; upstream logs it and uses the cluster's
        log.error("invalid DNSPolicy=%s of pod %s: falling back to %s", policy, _pod_ref(pod), CLUSTER_FIRST)
        kind = "cluster"

    if kind == "none":
        servers, searches, options = [], [], []
    elif kind == "cluster":
        if cluster_dns:
            servers = list(cluster_dns)
            searches = _cluster_searches(str(meta.get("namespace") or "default"), cluster_domain, searches)
            options = list(DEFAULT_OPTIONS)
        else:
            message = (
                f'kubelet does not have ClusterDNS IP configured and cannot create Pod using "{CLUSTER_FIRST}" '
                f'policy. Falling back to "{DEFAULT}" policy.'
            )
            node_events.append(("MissingClusterDNS", message))
            events.append(("MissingClusterDNS", f'pod: "{_pod_ref(pod)}". {message}'))
            kind = "host"
    if kind == "host" and host is None:
        # No resolv.conf: the resolver's own default, "the nameserver on the local machine", and no search.
        servers = ["::1" if ":" in node_ip else "127.0.0.1"]
        searches = ["."]

    config = spec.get("dnsConfig")
    if config:
        servers = _unique([*servers, *(str(s) for s in config.get("nameservers") or ())])
        searches = _unique([*searches, *(str(s) for s in config.get("searches") or ())])
        options = _merge_options(options, config.get("options") or ())

    if len(servers) > MAX_NAMESERVERS:
        servers = servers[:MAX_NAMESERVERS]
        message = (
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "
            + " ".join(servers)
        )
        events.append(("DNSConfigForming", message))
    searches, cut = _fit_searches(searches)
    if cut:
        message = (
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "
            + " ".join(searches)
        )
        events.append(("DNSConfigForming", message))
    return PodDNS(tuple(servers), tuple(searches), tuple(options), tuple(events), tuple(node_events))


def _cluster_searches(namespace: str, cluster_domain: str, host_searches: list[str]) -> list[str]:
    if not cluster_domain:
        return host_searches
    return _unique([f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain, *host_searches])


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _merge_options(existing: Sequence[str], extra: Iterable[Obj]) -> list[str]:
    """Options by name (``name`` or ``name:value``); the pod's dnsConfig options override the base's."""
    merged: dict[str, str] = {}
    for option in existing:
        name, _, value = option.partition(":")
        merged[name] = value
    for given in extra:
        given_value = given.get("value")
        merged[str(given.get("name") or "")] = "" if given_value is None else str(given_value)
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def _fit_searches(searches: list[str]) -> tuple[list[str], bool]:
    """The search list within upstream's limits, and whether anything was cut."""
    cut = len(searches) > MAX_SEARCH_PATHS
    searches = searches[:MAX_SEARCH_PATHS]
    kept = [s for s in searches if len(s) <= MAX_SEARCH_PATH_LENGTH]
    cut = cut or len(kept) != len(searches)
    while kept and len(" ".join(kept)) > MAX_SEARCH_CHARS:  # from the end, as upstream
        kept.pop()
        cut = True
    return kept, cut


def host_domain(pod: Obj, cluster_domain: str) -> str:
    """The pod's domain, ``<subdomain>.<namespace>.svc.<clusterDomain>``, when spec.subdomain is set; "" if not."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    subdomain = str(spec.get("subdomain") or "")
    if not subdomain:
        return ""
    return f"{subdomain}.{meta.get('namespace') or 'default'}.svc.{cluster_domain}"


def host_aliases(pod: Obj) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """spec.hostAliases as (IP, hostnames) pairs."""
    return tuple(
        (str(alias.get("ip") or ""), tuple(str(h) for h in alias.get("hostnames") or ()))
        for alias in (pod.get("spec") or {}).get("hostAliases") or ()
    )


def _pod_ref(pod: Obj) -> str:
    """The pod as the kubelet names it in messages (format.Pod: ``name_namespace(uid)``)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"
