"""``kubectl pinnace …``: every ``pinnace`` command (status, up, down, builder, plugin, …) under kubectl."""

from __future__ import annotations


def main() -> None:
    """Run the ``pinnace`` command line under the name kubectl users type."""
    from pinnace.cli.main import app

    app(prog_name="kubectl pinnace")


if __name__ == "__main__":
    main()
