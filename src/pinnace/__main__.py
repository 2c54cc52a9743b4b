"""``python -m pinnace`` runs the command line."""

from pinnace.cli.main import main

main()
