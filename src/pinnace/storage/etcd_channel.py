"""Connections to etcd members: one gRPC channel per member, failover, and the Watch stream.

``Members`` turns the configured endpoints (``host:port``, ``http://…`` or
``https://…``) into ``grpc.aio`` channels, opened on first use, and knows which
member is current; ``fail_over`` moves to the next one when a call finds the
current one unavailable, passing over a member that lately did not answer at
all while another may. Every call carries etcd's require-leader metadata, as
kube-apiserver's calls do: a member that has lost its leader refuses at once
(``UNAVAILABLE: etcdserver: no leader``) instead of holding a write until the
deadline, and ends its watch streams, so the caller moves on. ``WatchStream`` is one bidirectional etcd Watch call
whose writes are serialized (gRPC allows one pending write per stream). The
store (``pinnace.storage.etcd``) decides when to retry; nothing here does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from pinnace.storage.etcdpb import rpc_pb2

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Detect a dead or paused member on an open stream; etcd's default
    # --grpc-keepalive-min-time is 5 s and it refuses pings without streams.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
]
#: gRPC metadata asking the member to refuse the call when it has no leader (etcd's ``WithRequireLeader``).
REQUIRE_LEADER: tuple[tuple[str, str], ...] = (("hasleader", "true"),)
#: Seconds a member that left a call unanswered (paused, cut off) is passed over by failover.
SUSPECT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class EtcdTLS:
    """Client TLS for etcd: the CA that signed the members' certificates, and a client certificate."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials from the PEM files."""
        cert = self.cert_file.read_bytes() if self.cert_file else None
        key = self.key_file.read_bytes() if self.key_file else None
        return grpc.ssl_channel_credentials(self.ca_file.read_bytes(), key, cert)


class Members:
    """gRPC channels to the etcd members, and the one currently in use."""

    def __init__(self, endpoints: Sequence[str], tls: EtcdTLS | None) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self._targets: list[tuple[str, bool]] = []
        for endpoint in endpoints:
            scheme, _, rest = endpoint.rpartition("://")
            if scheme not in ("", "http", "https"):
                raise ValueError(f"unsupported etcd endpoint scheme: {endpoint}")
            self._targets.append((rest, scheme == "https" or tls is not None))
        self._tls = tls
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._suspect_until: dict[int, float] = {}
        self.index = 0

    def channel(self) -> grpc.aio.Channel:
        """The channel to the current member (opened on first use)."""
        channel = self._channels.get(self.index)
        if channel is None:
            target, secure = self._targets[self.index]
            if secure:
                creds = self._tls.credentials() if self._tls else grpc.ssl_channel_credentials()
                channel = grpc.aio.secure_channel(target, creds, options=CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            self._channels[self.index] = channel
        return channel

    def fail_over(self, failed: grpc.aio.Channel, *, unanswered: bool = False) -> None:
        """Move to the next member, unless another caller already moved away from ``failed``.

        ``unanswered``: the call got no answer before its deadline. Such a member is passed over for
        :data:`SUSPECT_SECONDS` while a member not suspected is left: going back to it at once would cost
        another whole deadline."""
        if self._channels.get(self.index) is not failed:
            return
        now = time.monotonic()
        if unanswered:
            self._suspect_until[self.index] = now + SUSPECT_SECONDS
        count = len(self._targets)
        candidates = [(self.index + step) % count for step in range(1, count + 1)]
        trusted = [i for i in candidates if self._suspect_until.get(i, 0.0) <= now]
        self.index = (trusted or candidates)[0]

    @property
    def current(self) -> str:
        """The current member's address (for logs)."""
        return self._targets[self.index][0]

    async def close(self) -> None:
        """Close every channel (cancels their calls)."""
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(c.close() for c in channels))


def serialize(message: Any) -> bytes:
    """A protobuf message's wire bytes (gRPC's request serializer)."""
    data: bytes = message.SerializeToString()
    return data


class WatchStream:
    """One bidirectional etcd Watch call; writes are serialized as gRPC requires."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        rpc = channel.stream_stream(
            "/etcdserverpb.Watch/Watch",
            request_serializer=serialize,
            response_deserializer=rpc_pb2.WatchResponse.FromString,
        )
        self._call = rpc(metadata=REQUIRE_LEADER)
        self._lock = asyncio.Lock()

    async def send(self, request: rpc_pb2.WatchRequest) -> None:
        """Write one request on the stream."""
        async with self._lock:
            await self._call.write(request)

    async def receive(self) -> rpc_pb2.WatchResponse | None:
        """The next response, or None when the server ended the stream."""
        resp = await self._call.read()
        if resp is grpc.aio.EOF:
            return None
        assert isinstance(resp, rpc_pb2.WatchResponse)
        return resp

    def cancel(self) -> None:
        """End the call (idempotent)."""
        self._call.cancel()
