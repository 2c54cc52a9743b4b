"""The storage tests' ``store`` fixture (a fresh SQLite and a fresh etcd store), for the encrypting store's tests."""

from tests.unit.storage.conftest import store

__all__ = ["store"]
