"""What Pinnace's kubectl plugins share: kubectl's connection flags and one way to fail.

kubectl hands a plugin every argument after its name, so ``kubectl ns
--context dev`` reaches the plugin as ``--context dev``: each plugin parses
``--kubeconfig``, ``--context`` and ``-n/--namespace`` itself, and chooses its
server and default namespace exactly as kubectl would
(:func:`pinnace.client.load_client_config`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from pinnace.api import errors
from pinnace.client import ClientConfig, ConfigError, load_client_config

__all__ = ["PluginFailure", "add_connection_flags", "client_config", "run"]


class PluginFailure(Exception):
    """A plugin's expected failure: printed as ``error: <message>``, exit status 1."""


def add_connection_flags(parser: argparse.ArgumentParser, *, namespace: bool = True) -> None:
    """Add ``--kubeconfig``, ``--context`` and (unless told not to) ``-n/--namespace``."""
    parser.add_argument("--kubeconfig", default=None, help="Path to the kubeconfig file to use.")
    parser.add_argument("--context", default=None, help="The kubeconfig context to use.")
    if namespace:
        parser.add_argument("-n", "--namespace", default=None, help="The namespace (default: the context's).")


def client_config(args: argparse.Namespace) -> ClientConfig:
    """The cluster connection the flags (or kubectl's defaults) choose."""
    return load_client_config(args.kubeconfig, args.context)


def run(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a plugin's async main; configuration and API errors become one ``error:`` line and exit 1."""
    try:
        return asyncio.run(main())
    except (PluginFailure, ConfigError, errors.StatusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
