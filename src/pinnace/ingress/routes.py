"""The routing table: served Ingresses, merged into servers by host, and the match of one request.

Built in one pass (:func:`build_table`) from the informers' objects; a request is then matched by
:meth:`RoutingTable.route`, as ingress-nginx's generated configuration would match it:

- **server** — the request's host (its ``Host`` header, lower-cased, port and trailing dot dropped) picks one
  server: the rule host that equals it; else the wildcard rule host ``*.<rest>`` whose ``<rest>`` follows the first
  label; else the catch-all server of the rules without a host. Rules of every Ingress with the same host merge into
  one server; a request never falls through from the server it picked to a less specific one.
- **path** — within the server, the longest matching path wins; at equal length ``Exact`` wins over ``Prefix``.
  ``Exact`` compares the whole path; ``Prefix`` (and ``ImplementationSpecific``, treated as Prefix) matches element
  by element (``/foo`` and ``/foo/`` match ``/foo``, ``/foo/``, ``/foo/bar``, not ``/foobar``). The request path is
  matched after nginx's normalisation (repeated slashes merged, ``.``/``..`` resolved); the backend still gets the
  path as received. When two Ingresses claim the same path and type on a host, the older one wins.
- **default backend** — what no path matches goes to the ``spec.defaultBackend`` of the oldest Ingress that has a
  rule for that host and a default backend; else (and for the catch-all server) to the cluster-wide default: the
  oldest Ingress with a default backend and no rules (else the oldest with one at all); else nowhere (the proxy's
  404).

TLS: each ``spec.tls[]`` host (an entry without hosts covers its Ingress's rule hosts) maps to the Secret named
there (none: the controller's default certificate); the oldest Ingress wins. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pinnace.ingress.backends import BackendResolver, Upstream
from pinnace.ingress.selection import ingress_key, served_ingresses

__all__ = [
    "PathRule",
    "Route",
    "RoutingTable",
    "Server",
    "TLSRef",
    "build_table",
    "normalize_path",
    "request_host",
]

Obj = dict[str, Any]


def request_host(header: str | None) -> str:
    """The host a request names: its ``Host`` header lower-cased, without port or trailing dot ("" if none)."""
    if not header:
        return ""
    host = header.strip().lower()
    if host.startswith("["):  # an IPv6 literal, maybe with a port
        end = host.find("]")
        return host[1:end] if end > 0 else ""
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def normalize_path(path: str) -> str:
    """``path`` as routes see it: repeated slashes merged and dot-segments resolved, as nginx does (a trailing slash
    is kept: ``Exact`` tells ``/foo`` from ``/foo/``)."""
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
        elif segment not in ("", "."):
            out.append(segment)
            continue
        if last:
            out.append("")  # the path ends with a slash
    return "/" + "/".join(out)


@dataclass(frozen=True, slots=True)
class PathRule:
    """One path of one rule: how it matches, where it goes, and which Ingress said so."""

    path: str
    exact: bool
    upstream: Upstream
    ingress: str

    @property
    def length(self) -> int:
        """How specific the rule is (longest wins)."""
        return len(self.path)

    def matches(self, path: str) -> bool:
        """Whether a (normalised) request path matches."""
        if self.exact:
            return path == self.path
        return not self.path or path == self.path or path.startswith(self.path + "/")


@dataclass(slots=True)
class Server:
    """The merged rules of one host (``*.example.com`` for a wildcard, "" for the rules without a host)."""

    host: str
    paths: list[PathRule] = field(default_factory=list)
    default: PathRule | None = None
    _claimed: set[tuple[str, bool]] = field(default_factory=set)

    def add(self, rule: PathRule) -> None:
        """Add ``rule`` unless an older one already has its path and type (call :meth:`order` when all are in)."""
        if (rule.path, rule.exact) not in self._claimed:
            self._claimed.add((rule.path, rule.exact))
            self.paths.append(rule)

    def order(self) -> None:
        """Put the paths in matching order: longest first, Exact before Prefix at equal length."""
        self.paths.sort(key=lambda r: (-r.length, not r.exact))

    def match(self, path: str) -> PathRule | None:
        """The rule a normalised request path goes to, or the server's default backend."""
        for rule in self.paths:
            if rule.matches(path):
                return rule
        return self.default


@dataclass(frozen=True, slots=True)
class TLSRef:
    """The certificate of a TLS host: a ``kubernetes.io/tls`` Secret (``secret`` "" for the default certificate)."""

    namespace: str
    secret: str
    ingress: str


@dataclass(frozen=True, slots=True)
class Route:
    """What one request gets: the upstream (None: nothing matches, 404), the Ingress that routed it, and whether
    its host has TLS (plain HTTP is then redirected to HTTPS)."""

    upstream: Upstream | None
    ingress: str = ""
    tls: bool = False


@dataclass(slots=True)
class RoutingTable:
    """Servers by host, the cluster-wide default backend, TLS hosts, and the Ingresses served."""

    exact: dict[str, Server] = field(default_factory=dict)
    wildcard: dict[str, Server] = field(default_factory=dict)
    catch_all: Server = field(default_factory=lambda: Server(""))
    default: PathRule | None = None
    tls: dict[str, TLSRef] = field(default_factory=dict)
    served: tuple[str, ...] = ()

    def server(self, host: str) -> Server:
        """The server a request host picks."""
        found = self.exact.get(host)
        if found is None and "." in host:
            first, rest = host.split(".", 1)
            found = self.wildcard.get(rest) if first else None
        return found if found is not None else self.catch_all

    def tls_for(self, host: str) -> TLSRef | None:
        """The TLS entry covering ``host`` (exact first, then wildcard), if any."""
        found = self.tls.get(host)
        if found is None and "." in host:
            first, rest = host.split(".", 1)
            found = self.tls.get(f"*.{rest}") if first else None
        return found

    def route(self, host: str, path: str) -> Route:
        """Where a request for ``host`` (from :func:`request_host`) and ``path`` (decoded) goes."""
        rule = self.server(host).match(normalize_path(path)) or self.default
        tls = bool(host) and self.tls_for(host) is not None
        if rule is None:
            return Route(None, tls=tls)
        return Route(rule.upstream, rule.ingress, tls)


def _server_for(table: RoutingTable, host: str) -> Server:
    if not host:
        return table.catch_all
    if host.startswith("*."):
        return table.wildcard.setdefault(host[2:], Server(host))
    return table.exact.setdefault(host, Server(host))


def build_table(
    ingresses: Iterable[Obj],
    classes: Iterable[Obj],
    services: Iterable[Obj],
    slices: Iterable[Obj],
    *,
    class_name: str,
    controller_name: str,
) -> RoutingTable:
    """The routing table of the Ingresses the controller serves, resolved against Services and EndpointSlices."""
    served = served_ingresses(ingresses, classes, class_name=class_name, controller_name=controller_name)
    resolver = BackendResolver(services, slices)
    table = RoutingTable(served=tuple(ingress_key(ing) for ing in served))
    fallback: PathRule | None = None
    for ingress in served:
        key = ingress_key(ingress)
        namespace = str((ingress.get("metadata") or {}).get("namespace") or "")
        spec = ingress.get("spec") or {}
        rules = [r for r in spec.get("rules") or [] if isinstance(r, dict)]
        default: PathRule | None = None
        if isinstance(spec.get("defaultBackend"), dict):
            default = PathRule("", False, resolver.resolve(namespace, spec["defaultBackend"]), key)
            if not rules and table.default is None:
                table.default = default
            fallback = fallback or default
        hosts: list[str] = []
        for rule in rules:
            host = str(rule.get("host") or "").lower()
            hosts.append(host)
            server = _server_for(table, host)
            if host and server.default is None and default is not None:
                server.default = default
            for entry in (rule.get("http") or {}).get("paths") or []:
                backend = entry.get("backend")
                if not isinstance(backend, dict):
                    continue
                exact = entry.get("pathType") == "Exact"
                raw = str(entry.get("path") or "/")
                path = raw if exact else raw.rstrip("/")
                server.add(PathRule(path, exact, resolver.resolve(namespace, backend), key))
        for tls in spec.get("tls") or []:
            ref = TLSRef(namespace, str(tls.get("secretName") or ""), key)
            for host in tls.get("hosts") or [h for h in hosts if h]:
                table.tls.setdefault(str(host).lower(), ref)
    if table.default is None:
        table.default = fallback
    for server in (*table.exact.values(), *table.wildcard.values(), table.catch_all):
        server.order()
    return table
