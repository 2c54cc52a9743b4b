"""Built-in controllers, each a runtime Reconciler written as a user would write one.

:data:`BUILTIN_CONTROLLERS` names them; :func:`add_controllers` adds a
selection to a :class:`~pinnace.runtime.manager.Manager` — what ``pinnace up``
runs as its controller manager, and what the ``pinnace_env`` test fixture
starts on request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from pinnace.controllers.garbagecollector import add_garbage_collector
from pinnace.controllers.namespace import add_namespace_controller
from pinnace.runtime.manager import Manager

__all__ = ["BUILTIN_CONTROLLERS", "add_controllers"]

#: Every built-in controller by name, and how to add it to a manager.
BUILTIN_CONTROLLERS: dict[str, Callable[[Manager], Awaitable[object]]] = {
    "gc": add_garbage_collector,
    "namespace": add_namespace_controller,
}


async def add_controllers(manager: Manager, names: Iterable[str]) -> list[object]:
    """Add the named built-in controllers to ``manager``; ValueError for an unknown name."""
    added = []
    for name in names:
        factory = BUILTIN_CONTROLLERS.get(name)
        if factory is None:
            raise ValueError(f"unknown controller {name!r}; known: {', '.join(sorted(BUILTIN_CONTROLLERS))}")
        added.append(await factory(manager))
    return added
