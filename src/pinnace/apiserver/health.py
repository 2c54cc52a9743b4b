"""``/healthz``, ``/livez`` and ``/readyz``, in kube-apiserver's format.

Each endpoint runs named checks; ``?verbose`` lists them as ``[+]name ok`` /
``[-]name failed: reason withheld``; ``/readyz/<name>`` runs one check;
``?exclude=name`` skips one. Readiness also fails while the server shuts down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

#: A health check: returns an error message, or None when healthy.
Check = Callable[[], Awaitable[str | None]]


async def run_checks(
    endpoint: str, checks: Mapping[str, Check], sub: str | None, query: Mapping[str, str], excluded: list[str]
) -> web.Response:
    """Run an endpoint's checks and answer as upstream does."""
    if sub:
        check = checks.get(sub)
        if check is None:
            return web.Response(status=404, text="404 page not found\n")
        failure = await check()
        if failure is None:
            return web.Response(text="ok")
        return web.Response(status=500, text=f"internal server error: {failure}\n")
    lines = []
    failed = False
    for name, check in checks.items():
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
            continue
        failure = await check()
        if failure is None:
            lines.append(f"[+]{name} ok")
        else:
            failed = True
            lines.append(f"[-]{name} failed: reason withheld")
    verbose = "verbose" in query
    if failed:
        return web.Response(status=500, text="\n".join(lines) + f"\n{endpoint} check failed\n")
    if verbose:
        return web.Response(text="\n".join(lines) + f"\n{endpoint} check passed\n")
    return web.Response(text="ok")
