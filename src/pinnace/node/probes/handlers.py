"""One probe attempt of each kind, as upstream's probers judge and word it.

Each handler returns a :class:`Outcome`: success, failure or warning (a
warning counts as success, and is reported as a ``ProbeWarning`` event), with
the output that goes into the ``Unhealthy`` event's message:

- exec: the command through the runtime (``exec_sync``) with timeoutSeconds;
  exit code 0 is success; the output is stdout and stderr;
- httpGet: ``GET scheme://host:port/path`` (host: the pod's IP unless given;
  port: a number or a named container port) with ``httpHeaders`` and upstream's
  ``User-Agent: kube-probe/1.32`` and ``Accept: */*``; 200-399 is success;
  redirects are followed on the same host (at most 10), a redirect to another
  host ends the probe as a warning; HTTPS is not verified, as upstream;
- tcpSocket: a TCP connection that opens within the timeout;
- grpc: ``grpc.health.v1.Health/Check`` for ``service``; SERVING is success.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from pinnace.node.cri import RuntimeService

__all__ = ["Outcome", "Result", "exec_probe", "grpc_probe", "http_probe", "resolve_port", "tcp_probe"]

Obj = dict[str, Any]

#: What upstream's HTTP prober sends as its User-Agent (kube-probe/<major>.<minor>).
USER_AGENT = "kube-probe/1.32"
#: Upstream reads at most this much of an HTTP probe's body into its output.
MAX_BODY = 10 * 1024
MAX_REDIRECTS = 10
#: grpc.health.v1.HealthCheckResponse.ServingStatus names.
_SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class Result(enum.Enum):
    """A probe attempt's verdict."""

    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A verdict and the output that explains it."""

    result: Result
    output: str = ""

    @property
    def ok(self) -> bool:
        """Success or warning."""
        return self.result is not Result.FAILURE


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports; ValueError if neither."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        number = int(port)
    else:
        named = [p for p in container.get("ports") or [] if p.get("name") == port]
        if not named:
            raise ValueError(f"unknown port name {port!r} in container {container.get('name')!r}")
        number = int(named[0]["containerPort"])
    if not 0 < number < 65536:
        raise ValueError(f"invalid port number: {number}")
    return number


async def exec_probe(runtime: RuntimeService, container_id: str, command: Sequence[str], timeout: float) -> Outcome:
    """Run the command in the container; exit 0 is success."""
    result = await runtime.exec_sync(container_id, list(command), timeout)
    if result.timed_out:
        return Outcome(Result.FAILURE, f"command {' '.join(command)!r} timed out")
    output = (result.stdout + result.stderr).decode(errors="replace")
    return Outcome(Result.SUCCESS if result.exit_code == 0 else Result.FAILURE, output)


async def tcp_probe(host: str, port: int, timeout: float) -> Outcome:
    """Open a TCP connection (and close it at once)."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return Outcome(Result.FAILURE, f"dial tcp {address}: i/o timeout")
    except OSError as exc:
        reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
        return Outcome(Result.FAILURE, f"dial tcp {address}: connect: {reason}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(Result.SUCCESS)


async def http_probe(
    session: aiohttp.ClientSession, url: str, headers: Sequence[Mapping[str, str]], timeout: float
) -> Outcome:
    """GET ``url``; 200-399 is success (see the module docstring for redirects and headers)."""
    send = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for header in headers:
        send[header["name"]] = header.get("value", "")
    first_host = urlsplit(url).hostname
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                async with session.get(url, headers=send, allow_redirects=False, ssl=False) as response:
                    body = (await response.content.read(MAX_BODY)).decode(errors="replace")
                    location = response.headers.get("Location")
                    if 300 <= response.status < 400 and location:
                        target = urljoin(url, location)
                        if urlsplit(target).hostname != first_host:
                            return Outcome(Result.WARNING, f"Probe terminated redirects, Response body: {body}")
                        url = target
                        continue
                    if 200 <= response.status < 400:
                        return Outcome(Result.SUCCESS, body)
                    return Outcome(Result.FAILURE, f"HTTP probe failed with statuscode: {response.status}")
            return Outcome(Result.FAILURE, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')
    except TimeoutError:
        return Outcome(
            Result.FAILURE, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    except aiohttp.ClientConnectorError as exc:
        reason = (os.strerror(exc.os_error.errno) if exc.os_error.errno else str(exc.os_error)).lower()
        return Outcome(Result.FAILURE, f'Get "{url}": dial tcp {exc.host}:{exc.port}: connect: {reason}')
    except aiohttp.ClientError as exc:
        return Outcome(Result.FAILURE, f'Get "{url}": {exc}')


def _health_request(service: str) -> bytes:
    """A grpc.health.v1.HealthCheckRequest: field 1 (service), a length-delimited string."""
    data = service.encode()
    if not data:
        return b""
    length, prefix = len(data), bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        prefix.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\x0a" + bytes(prefix) + data


def _serving_status(message: bytes) -> int:
    """The ``status`` (field 1, varint) of a grpc.health.v1.HealthCheckResponse (0 when absent)."""
    pos = 0
    while pos < len(message):
        key = message[pos]
        pos += 1
        if key == 0x08:  # field 1, varint
            value, shift = 0, 0
            while pos < len(message):
                byte = message[pos]
                pos += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    return value
            break
        return 0  # no other fields are defined
    return 0


async def grpc_probe(host: str, port: int, service: str, timeout: float) -> Outcome:
    """Ask ``grpc.health.v1.Health/Check`` for ``service``; SERVING is success."""
    import grpc  # imported here: its native module adds ~15 MB to every node agent that never runs a gRPC probe

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    async with grpc.aio.insecure_channel(target) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            reply = await check(_health_request(service), timeout=timeout, wait_for_ready=False)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.UNAVAILABLE:
                return Outcome(Result.FAILURE, f'timeout: failed to connect service "{target}" within {timeout:g}s')
            if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome(Result.FAILURE, f"timeout: health rpc did not complete within {timeout:g}s")
            return Outcome(Result.FAILURE, f"error: health rpc probe failed: {exc.code().name}: {exc.details()}")
    status = _serving_status(reply)
    if status != 1:
        name = _SERVING_STATUS.get(status, str(status))
        return Outcome(Result.FAILURE, f'service unhealthy (responded with "{name}")')
    return Outcome(Result.SUCCESS)
