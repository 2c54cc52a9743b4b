"""The WebSocket channel protocols of remote commands (exec, attach) and port-forward.

Every WebSocket message carries one channel: its first byte is the channel
number, the rest is the data (``channel.k8s.io``, ``v4.channel.k8s.io``,
``v5.channel.k8s.io``); the ``base64`` variants send text messages whose first
character is the channel digit and the rest base64 (for browsers). The
channels of a remote command are 0 stdin, 1 stdout, 2 stderr, 3 error and
4 resize (``{"Width": w, "Height": h}``). The error channel carries plain text
before v4 and a ``metav1.Status`` from v4 on — Success, or Failure with reason
``NonZeroExitCode`` and an ``ExitCode`` cause, which is how ``kubectl exec``
learns the exit status. v5 (KEP-4006) adds channel 255: a message ``[255, n]``
closes channel n (the client's end of stdin), which a WebSocket cannot express
otherwise.

Port-forward over plain channels (``v4.channel.k8s.io``, the ports in the
URL) uses two channels per port, data and error; the first message the server
sends on each is the port as two little-endian bytes.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "CLOSE_CHANNEL",
    "PORT_FORWARD_PROTOCOLS",
    "REMOTE_COMMAND_PROTOCOLS",
    "SPDY_TUNNEL_PROTOCOL",
    "Channel",
    "ChannelProtocol",
    "decode",
    "encode",
    "exit_status",
    "negotiate",
    "parse_resize",
]


class Channel(enum.IntEnum):
    """The channels of a remote command."""

    STDIN = 0
    STDOUT = 1
    STDERR = 2
    ERROR = 3
    RESIZE = 4


#: v5's close signal: the message ``[CLOSE_CHANNEL, n]`` closes channel n.
CLOSE_CHANNEL = 255


@dataclass(frozen=True, slots=True)
class ChannelProtocol:
    """One negotiated subprotocol: its name, framing and what its error channel carries."""

    name: str
    base64: bool
    #: The error channel carries a JSON metav1.Status (v4 and later) rather than plain text.
    status_errors: bool
    #: Channel 255 closes a channel (v5).
    close_signal: bool


def _protocols(*specs: tuple[str, bool, bool, bool]) -> dict[str, ChannelProtocol]:
    return {name: ChannelProtocol(name, b64, status, close) for name, b64, status, close in specs}


#: The remote-command subprotocols the kubelet accepts, by name ("" is a client that names none).
REMOTE_COMMAND_PROTOCOLS = _protocols(
    ("v5.channel.k8s.io", False, True, True),
    ("v4.channel.k8s.io", False, True, False),
    ("v4.base64.channel.k8s.io", True, True, False),
    ("v3.channel.k8s.io", False, False, False),
    ("v2.channel.k8s.io", False, False, False),
    ("channel.k8s.io", False, False, False),
    ("base64.channel.k8s.io", True, False, False),
    ("", False, False, False),
)

#: SPDY/3.1 tunnelled in WebSocket binary messages (kubectl 1.30+ ``port-forward``).
SPDY_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"

#: The port-forward subprotocols over plain channels (the Python client's ``portforward``).
PORT_FORWARD_PROTOCOLS = _protocols(
    ("v4.channel.k8s.io", False, False, False),
    ("v4.base64.channel.k8s.io", True, False, False),
    ("channel.k8s.io", False, False, False),
    ("base64.channel.k8s.io", True, False, False),
    ("portforward.k8s.io", False, False, False),
    ("", False, False, False),
)


def negotiate(offered: Sequence[str], supported: dict[str, ChannelProtocol]) -> ChannelProtocol | None:
    """The first subprotocol the client offered that is supported (upstream picks in the client's order).

    A client that offers none gets the unnamed binary protocol; None when nothing offered is supported.
    """
    if not offered:
        return supported.get("")
    for name in offered:
        protocol = supported.get(name.strip())
        if protocol is not None and name.strip():
            return protocol
    return None


def encode(protocol: ChannelProtocol, channel: int, data: bytes) -> bytes | str:
    """One message on ``channel``: bytes for binary protocols, str for base64 ones."""
    if protocol.base64:
        return chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
    return bytes((channel,)) + data


def decode(protocol: ChannelProtocol, message: bytes | str) -> tuple[int, bytes]:
    """A received message as (channel, data); ValueError when it is empty or malformed."""
    if not message:
        raise ValueError("empty message: no channel byte")
    if isinstance(message, str):
        if not protocol.base64:
            # Go's server reads text frames as bytes too (the Python client sends str data as text).
            data = message.encode()
            return data[0], data[1:]
        channel = ord(message[0]) - ord("0")
        if not 0 <= channel <= 9:
            raise ValueError(f"bad channel character {message[0]!r}")
        return channel, base64.b64decode(message[1:])
    if protocol.base64:
        # Clients of the base64 protocols send text, but the channel byte may come as binary too.
        return message[0] - ord("0"), base64.b64decode(message[1:])
    return message[0], bytes(message[1:])


def parse_resize(data: bytes) -> tuple[int, int]:
    """A resize message ``{"Width": w, "Height": h}`` as (width, height); ValueError when malformed."""
    try:
        size: Any = orjson.loads(data)
        width, height = int(size["Width"]), int(size["Height"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad resize message {data!r}: {exc}") from None
    if width < 0 or height < 0 or width > 0xFFFF or height > 0xFFFF:
        raise ValueError(f"bad terminal size {width}x{height}")
    return width, height


def exit_status(exit_code: int, command: Sequence[str] = ()) -> dict[str, Any]:
    """The metav1.Status the error channel carries when a command ended (v4 and later).

    Success for 0; otherwise Failure, reason ``NonZeroExitCode``, with the code as the
    ``ExitCode`` cause — what kubectl turns into its own exit status.
    """
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    what = f"error executing command [{' '.join(command)}], exit code {exit_code}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {what}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def error_status(message: str) -> dict[str, Any]:
    """The Status for a stream that failed for another reason than the command's exit (500, as upstream)."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def error_message(protocol: ChannelProtocol, status: dict[str, Any]) -> bytes:
    """What goes on the error channel for ``status``: its JSON (v4+), or its message as text (older)."""
    if protocol.status_errors:
        return orjson.dumps(status)
    return str(status.get("message", "")).encode()
