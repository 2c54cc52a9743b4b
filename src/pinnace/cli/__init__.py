"""The ``pinnace`` command line: thin parsing over the packages below it."""
