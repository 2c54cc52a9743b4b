"""A small TCP load balancer for several API servers: the control-plane endpoint of an HA cluster.

kubeadm's HA topology puts a load balancer (haproxy, kube-vip, a cloud LB) in
front of the API servers, and every kubeconfig names it. ``pinnace lb
--listen HOST:PORT --backend HOST:PORT …`` is that, for one machine: each new
client connection goes to the next backend in turn that accepts it — a backend
that refuses or times out is skipped (and tried again later), so clients carry
on through the others when an API server dies. Bytes are relayed both ways
unchanged (TLS passes through), one connection per client connection, as a
layer-4 balancer does; a connection already open to a dead backend ends, and
the client reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Backend", "LoadBalancer", "parse_address"]

log = logging.getLogger(__name__)

_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Backend:
    """One API server's address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> Backend:
    """``host:port`` as a Backend; ValueError says what is wrong."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {text!r}: expected host:port")
    return Backend(host, int(port))


class LoadBalancer:
    """Round-robin TCP relay to the first backend that accepts, skipping dead ones."""

    def __init__(self, backends: Sequence[Backend], *, connect_timeout: float = 1.0) -> None:
        if not backends:
            raise ValueError("at least one backend is required")
        self.backends = list(backends)
        self.connect_timeout = connect_timeout
        self._turn = itertools.cycle(range(len(self.backends)))
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int) -> int:
        """Start accepting on host:port (0: a free port); returns the port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting and end every relay."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _connect(self) -> tuple[Backend, asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = next(self._turn)
        for offset in range(len(self.backends)):
            backend = self.backends[(start + offset) % len(self.backends)]
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(backend.host, backend.port), self.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                log.warning("backend %s is not answering (%s); trying the next", backend, exc)
                continue
            return backend, reader, writer
        return None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            connected = await self._connect()
            if connected is None:
                log.error("no backend accepts connections: %s", ", ".join(map(str, self.backends)))
                return
            _, backend_reader, backend_writer = connected
            try:
                await asyncio.gather(
                    _pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer), return_exceptions=True
                )
            finally:
                backend_writer.close()
        finally:
            client_writer.close()
            self._relays.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close the other side."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        with contextlib.suppress(Exception):
            writer.close()
