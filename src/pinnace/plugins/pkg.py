"""``kubectl pkg``: the plugin manager as a kubectl plugin (``kubectl pkg install ns``)."""

from __future__ import annotations

from pinnace.plugins.cli import plugin_app


def main() -> None:
    """Run the plugin manager's commands under the name kubectl users type."""
    plugin_app(prog_name="kubectl pkg")


if __name__ == "__main__":
    main()
