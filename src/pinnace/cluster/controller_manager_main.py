"""The controller manager child that ``pinnace up`` supervises: ``python -m pinnace.cluster.controller_manager_main``.

It runs the same body as ``pinnace controller-manager``
(:func:`pinnace.cluster.controller_manager.run`) but takes its whole
configuration from the parent as one JSON document (``--config``, written by
:meth:`~pinnace.cluster.controller_manager.ControllerManagerConfig.to_json`),
so the child does not load the command line: typer (which coerces every
option through pydantic) and the other commands' modules cost a resident
~12 MB in a process that parses three flags. Users run
``pinnace controller-manager``; this entry point is the parent's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pinnace.cluster.controller_manager import ControllerManagerConfig, run
from pinnace.cluster.runtime_tuning import install_event_loop

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the controller manager the parent configured until SIGINT/SIGTERM; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m pinnace.cluster.controller_manager_main", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="the controller manager's kubeconfig")
    parser.add_argument("--log-level", default="INFO", help="logging level")
    parser.add_argument("--config", required=True, help="the ControllerManagerConfig, as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    config = ControllerManagerConfig.from_json(args.config)
    install_event_loop()
    return asyncio.run(run(args.kubeconfig, None, config))


if __name__ == "__main__":
    sys.exit(main())
