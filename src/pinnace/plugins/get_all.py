"""``kubectl get-all``: every object of every namespaced resource, in a namespace or all of them.

The resources come from discovery (:class:`pinnace.client.restmapper.RESTMapper`),
so CRDs and aggregated APIs are included and nothing is hard-coded: each
namespaced resource that can be listed, once, in its group's preferred version.
Events are left out unless ``--exclude ''`` (they drown everything else, as in
ketall). ``--since 1h`` keeps only objects created in the last hour. A resource
that cannot be listed (forbidden, gone) is reported on stderr and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from pinnace.api import errors
from pinnace.api.goduration import parse_go_duration
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper, RESTMapping
from pinnace.plugins.kubeargs import PluginFailure, add_connection_flags, client_config, run


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``1h30m``, ``2d`` → a timedelta (Go's duration syntax, plus days)."""
    try:
        seconds = parse_go_duration(text, {"d": 86400.0})
    except ValueError:
        seconds = None
    if seconds is None or seconds < 0:
        raise PluginFailure(f"invalid duration {text!r} (examples: 30s, 10m, 1h30m, 2d)")
    return timedelta(seconds=seconds)


def format_age(created: datetime, now: datetime) -> str:
    """kubectl's short age: 42s, 5m, 3h, 12d."""
    s = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size * (2 if unit != "m" else 1):
            return f"{s // size}{unit}"
    return f"{s}s"


def listable_namespaced(mappings: list[RESTMapping], exclude: set[str]) -> list[RESTMapping]:
    """One mapping per namespaced, listable resource (the first — preferred — version), minus ``exclude``."""
    seen: set[tuple[str, str]] = set()
    out = []
    for m in mappings:
        key = (m.ref.group, m.ref.plural)
        if key in seen or not m.ref.namespaced or "list" not in m.verbs:
            continue
        seen.add(key)
        if m.ref.plural in exclude or f"{m.ref.plural}.{m.ref.group}" in exclude:
            continue
        out.append(m)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl get-all", description="List every namespaced object.")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="Every namespace.")
    parser.add_argument("--since", default=None, help="Only objects created within this duration (e.g. 1h).")
    parser.add_argument("--exclude", default="events", help="Comma-separated resources to leave out (default: events).")
    add_connection_flags(parser)
    return parser


async def _list(client: RestClient, m: RESTMapping, namespace: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"limit": "500", **({"continue": token} if token else {})}
        page = await client.list(m.ref, namespace, **params)
        items.extend(page.get("items") or [])
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return items


async def _get_all(args: argparse.Namespace) -> int:
    since = parse_duration(args.since) if args.since else None
    config = client_config(args)
    namespace = None if args.all_namespaces else (args.namespace or config.namespace)
    exclude = {e.strip() for e in args.exclude.split(",") if e.strip()}
    async with config.rest_client() as client:
        mapper = RESTMapper(client)
        await mapper.refresh()
        resources = listable_namespaced(mapper.known(), exclude)
        results = await asyncio.gather(*(_list(client, m, namespace) for m in resources), return_exceptions=True)
    now = datetime.now(UTC)
    rows: list[tuple[str, str, str]] = []
    for m, result in zip(resources, results, strict=True):
        if isinstance(result, errors.StatusError):
            print(f"warning: cannot list {m.ref.plural}.{m.ref.group or 'core'}: {result}", file=sys.stderr)
            continue
        if isinstance(result, BaseException):
            raise result
        kind = m.gvk.kind.lower() + (f".{m.gvk.group}" if m.gvk.group else "")
        for obj in result:
            meta = obj.get("metadata") or {}
            created = datetime.fromisoformat(str(meta.get("creationTimestamp") or now.isoformat()))
            if since is not None and now - created > since:
                continue
            rows.append((f"{kind}/{meta.get('name')}", str(meta.get("namespace") or ""), format_age(created, now)))
    if not rows:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No resources found in {where}.", file=sys.stderr)
        return 0
    rows.sort(key=lambda r: (r[1], r[0]))
    width = max(len(r[0]) for r in rows)
    ns_width = max(9, *(len(r[1]) for r in rows))
    print(f"{'NAME':<{width}}   {'NAMESPACE':<{ns_width}}   AGE")
    for name, ns, age in rows:
        print(f"{name:<{width}}   {ns:<{ns_width}}   {age}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kubectl-get_all``."""
    args = _parser().parse_args(argv)
    return run(lambda: _get_all(args))


if __name__ == "__main__":
    sys.exit(main())
