"""The lean entry points of the children ``pinnace up`` supervises (the controller manager, each node agent).

A child does what a ``pinnace …`` command does, but the parent hands it its
whole configuration as one JSON document, so the child never loads the command
line: typer (which coerces every option through pydantic) and the other
commands' modules cost 5 to 12 MB resident in each process. :func:`child_argv`
is the parent's side (the command that runs ``python -m MODULE``),
:func:`child_main` the child's (parse it, set up logging, run).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

__all__ = ["child_argv", "child_main", "configure_logging"]


def configure_logging(level: str) -> None:
    """Log at ``level`` to stderr, as every ``pinnace`` process does (the supervisor passes stderr on)."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def child_argv(module: str, kubeconfig: str, log_level: str, config_json: str) -> list[str]:
    """The command that runs the child ``module`` (whose ``main`` calls :func:`child_main`) with this configuration."""
    return [
        sys.executable,
        "-m",
        module,
        "--kubeconfig",
        kubeconfig,
        "--log-level",
        log_level,
        "--config",
        config_json,
    ]


def child_main(
    argv: Sequence[str] | None, *, prog: str, description: str | None, run: Callable[[str, str], int]
) -> int:
    """Parse :func:`child_argv`'s flags, set up logging, and return ``run(kubeconfig, config_json)``'s exit code."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--kubeconfig", required=True, help="the child's kubeconfig")
    parser.add_argument("--log-level", default="INFO", help="logging level")
    parser.add_argument("--config", required=True, help="the child's configuration, as JSON")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    return run(args.kubeconfig, args.config)
