"""The WebSocket channel protocols: framing both ways, negotiation, resize and the error channel's Status."""

from __future__ import annotations

import base64

import orjson
import pytest

from pinnace.node.streams import channels
from pinnace.node.streams.channels import PORT_FORWARD_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS, Channel

V5 = REMOTE_COMMAND_PROTOCOLS["v5.channel.k8s.io"]
V4 = REMOTE_COMMAND_PROTOCOLS["v4.channel.k8s.io"]
V1 = REMOTE_COMMAND_PROTOCOLS["channel.k8s.io"]
B64 = REMOTE_COMMAND_PROTOCOLS["base64.channel.k8s.io"]


def test_binary_frames_carry_the_channel_in_the_first_byte() -> None:
    assert channels.encode(V5, Channel.STDOUT, b"hello") == b"\x01hello"
    assert channels.decode(V5, b"\x00input") == (0, b"input")
    assert channels.decode(V5, bytes([255, 0])) == (255, b"\x00")
    assert channels.encode(V4, Channel.ERROR, b"") == b"\x03"


def test_base64_frames_are_text_with_a_channel_digit() -> None:
    message = channels.encode(B64, Channel.STDERR, b"\x00\xffbinary")
    assert message == "2" + base64.b64encode(b"\x00\xffbinary").decode()
    assert channels.decode(B64, "0" + base64.b64encode(b"typed").decode()) == (0, b"typed")


def test_malformed_messages_are_refused() -> None:
    with pytest.raises(ValueError):
        channels.decode(V5, b"")
    with pytest.raises(ValueError):
        channels.decode(B64, "x-not-a-channel")


def test_text_messages_on_binary_protocols_are_read_as_bytes() -> None:
    assert channels.decode(V5, "\x00typed") == (0, b"typed")


def test_negotiation_takes_the_clients_first_supported_protocol() -> None:
    kubectl = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io"]
    assert channels.negotiate(kubectl, REMOTE_COMMAND_PROTOCOLS) is V5
    assert channels.negotiate(["v4.channel.k8s.io"], REMOTE_COMMAND_PROTOCOLS) is V4
    assert channels.negotiate(["x.example", "base64.channel.k8s.io"], REMOTE_COMMAND_PROTOCOLS) is B64
    assert channels.negotiate([], REMOTE_COMMAND_PROTOCOLS) == REMOTE_COMMAND_PROTOCOLS[""]
    assert channels.negotiate(["x.example"], REMOTE_COMMAND_PROTOCOLS) is None
    assert channels.negotiate(["v4.channel.k8s.io"], PORT_FORWARD_PROTOCOLS) is not None


def test_only_v5_has_the_close_signal_and_v4_on_send_a_status() -> None:
    assert V5.close_signal and not V4.close_signal
    assert V5.status_errors and V4.status_errors and not V1.status_errors


def test_resize_messages() -> None:
    assert channels.parse_resize(b'{"Width":120,"Height":40}') == (120, 40)
    for bad in (b"{}", b"not json", b'{"Width":-1,"Height":2}', b'{"Width":"x","Height":2}'):
        with pytest.raises(ValueError):
            channels.parse_resize(bad)


def test_exit_status_is_what_kubectl_turns_into_its_exit_code() -> None:
    assert channels.exit_status(0) == {"metadata": {}, "status": "Success"}
    status = channels.exit_status(3, ["sh", "-c", "exit 3"])
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"] == (
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
    )
    assert orjson.loads(channels.error_message(V4, status)) == status
    assert channels.error_message(V1, status) == status["message"].encode()
