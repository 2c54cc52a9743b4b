"""The controller manager child that ``pinnace up`` supervises: ``python -m pinnace.cluster.controller_manager_main``.

It runs the same body as ``pinnace controller-manager``
(:func:`pinnace.cluster.controller_manager.run`) but takes its whole
configuration from the parent as one JSON document (``--config``, written by
:meth:`~pinnace.cluster.controller_manager.ControllerManagerConfig.to_json`),
so the child does not load the command line: typer (which coerces every
option through pydantic) and the other commands' modules cost a resident
~12 MB in a process that parses three flags (:mod:`pinnace.cluster.child_entry`).
Users run ``pinnace controller-manager``; this entry point is the parent's.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from pinnace.cluster.child_entry import child_main
from pinnace.cluster.controller_manager import ControllerManagerConfig, run
from pinnace.cluster.runtime_tuning import prepare_server_process

__all__ = ["main"]


def _run(kubeconfig: str, config_json: str) -> int:
    config = ControllerManagerConfig.from_json(config_json)
    prepare_server_process()
    return asyncio.run(run(kubeconfig, None, config))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the controller manager the parent configured until SIGINT/SIGTERM; the exit code."""
    return child_main(argv, prog="python -m pinnace.cluster.controller_manager_main", description=__doc__, run=_run)


if __name__ == "__main__":
    sys.exit(main())
