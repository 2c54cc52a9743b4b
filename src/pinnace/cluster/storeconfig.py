"""Which store a cluster runs on: the embedded SQLite file, or an etcd cluster named by URL.

``pinnace up --store etcd://host:port[,host:port…]`` (with ``--etcd-cafile``,
``--etcd-certfile`` and ``--etcd-keyfile`` for TLS, as kube-apiserver's flags)
puts the cluster on etcd; without ``--store`` it runs on ``DATA_DIR/store.db``.
Keys are the same either way (``/registry/…``, kube-apiserver's layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pinnace.storage.interface import Store

__all__ = ["StoreConfig", "parse_store_url"]

SQLITE_FILE = "store.db"
#: Seconds one etcd call may take on one member before the next is tried (a 10,000-object page takes ~0.2 s).
REQUEST_TIMEOUT = 5.0
#: Seconds an etcd call keeps trying members before it fails.
RETRY_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The store of a cluster: no endpoints means the SQLite file in the data directory."""

    etcd_endpoints: tuple[str, ...] = ()
    etcd_cafile: Path | None = None
    etcd_certfile: Path | None = None
    etcd_keyfile: Path | None = None

    @property
    def is_etcd(self) -> bool:
        """Whether the cluster runs on etcd."""
        return bool(self.etcd_endpoints)

    def describe(self, data_dir: Path) -> str:
        """Where the objects are kept, for the user."""
        if self.is_etcd:
            return "etcd at " + ",".join(self.etcd_endpoints)
        return f"SQLite at {data_dir / SQLITE_FILE}"

    async def open(self, data_dir: Path) -> Store:
        """Open the store (etcd: fails loudly if no member answers)."""
        if not self.is_etcd:
            from pinnace.storage.sqlite import SQLiteStore

            # The writer in a process of its own: it does not compete with the API server's loop for the GIL.
            return await SQLiteStore.open(data_dir / SQLITE_FILE, writer_process=True)
        from pinnace.storage.etcd import EtcdStore
        from pinnace.storage.etcd_channel import EtcdTLS

        scheme = "https" if self.etcd_cafile else "http"
        tls = EtcdTLS(self.etcd_cafile, self.etcd_certfile, self.etcd_keyfile) if self.etcd_cafile else None
        # A member that stops answering (paused, partitioned) costs at most REQUEST_TIMEOUT before the next
        # member is tried; one that refuses connections is left at once.
        endpoints = [f"{scheme}://{e}" for e in self.etcd_endpoints]
        return await EtcdStore.open(endpoints, tls=tls, request_timeout=REQUEST_TIMEOUT, retry_timeout=RETRY_TIMEOUT)


def parse_store_url(url: str) -> tuple[str, ...]:
    """The ``host:port`` endpoints of an ``etcd://host:port[,host:port…]`` URL; ValueError says what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != "etcd":
        raise ValueError(f"unsupported store {url!r}: expected etcd://host:port[,host:port...]")
    endpoints = tuple(e.strip() for e in rest.strip("/").split(",") if e.strip())
    if not endpoints:
        raise ValueError(f"no etcd endpoint in {url!r}")
    for endpoint in endpoints:
        host, colon, port = endpoint.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"bad etcd endpoint {endpoint!r} in {url!r}: expected host:port")
    return endpoints
