"""``kubectl view-secret SECRET [KEY] [--all]``: a secret's values, decoded.

One key: its value, byte for byte. No key: the value if the secret has one
key, else the keys are listed and one (or ``--all``) must be chosen. ``--all``:
``key='value'`` lines, sorted. A missing secret or key is one clear error line.
"""

from __future__ import annotations

import argparse
import base64
import sys

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.plugins.kubeargs import PluginFailure, add_connection_flags, client_config, run

SECRETS = ResourceRef("", "v1", "secrets", True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl view-secret", description="Decode a secret's values.")
    parser.add_argument("secret", help="The secret's name.")
    parser.add_argument("key", nargs="?", default=None, help="The key to decode (optional if there is one).")
    parser.add_argument("-a", "--all", action="store_true", help="Decode every key.")
    add_connection_flags(parser)
    return parser


async def _view(args: argparse.Namespace) -> int:
    config = client_config(args)
    namespace = args.namespace or config.namespace
    async with config.rest_client() as client:
        try:
            secret = await client.get(SECRETS, args.secret, namespace)
        except errors.NotFound:
            raise PluginFailure(f'secret "{args.secret}" not found in namespace "{namespace}"') from None
    data = {k: base64.b64decode(v or "") for k, v in (secret.get("data") or {}).items()}
    out = sys.stdout.buffer
    if args.all:
        for key in sorted(data):
            out.write(f"{key}='".encode() + data[key] + b"'\n")
        return 0
    if args.key is None:
        if len(data) == 1:
            args.key = next(iter(data))
        elif not data:
            raise PluginFailure(f'secret "{args.secret}" in namespace "{namespace}" has no data')
        else:
            keys = ", ".join(sorted(data))
            raise PluginFailure(f'secret "{args.secret}" has several keys ({keys}): name one, or use --all')
    if args.key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise PluginFailure(f'key "{args.key}" not found in secret "{args.secret}" (its keys: {keys})')
    out.write(data[args.key])
    if sys.stdout.isatty() and not data[args.key].endswith(b"\n"):
        out.write(b"\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kubectl-view_secret``."""
    args = _parser().parse_args(argv)
    return run(lambda: _view(args))


if __name__ == "__main__":
    sys.exit(main())
