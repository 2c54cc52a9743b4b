"""Assembling a running cluster in one process: store, API server, controllers."""
