"""The warnings a request's handling gathers for its response's ``Warning`` headers.

Upstream's strategies add warnings to the request context (``warning.AddWarning``)
while the object is prepared and validated; the handler sends them after the
decoder's own (unknown and duplicate fields). :func:`collected` opens the
request's list around the store call; :func:`add` is what the store's
preparation calls, a no-op when nothing collects (the server's own writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["add", "collected"]

_sink: ContextVar[list[str] | None] = ContextVar("pinnace_request_warnings", default=None)


@contextmanager
def collected() -> Iterator[list[str]]:
    """Collect the warnings added inside the block into the list yielded."""
    sink: list[str] = []
    token = _sink.set(sink)
    try:
        yield sink
    finally:
        _sink.reset(token)


def add(messages: Iterable[str]) -> None:
    """Add warnings to the current request's response (each once, as upstream's recorder keeps them)."""
    sink = _sink.get()
    if sink is not None:
        sink.extend(m for m in messages if m not in sink)
