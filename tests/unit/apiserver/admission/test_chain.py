"""The admission chain: order, handles(), warnings, and plugin failures as 500s."""

from __future__ import annotations

import pytest

from pinnace.api import errors
from pinnace.api.registry import builtin_registry
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import AdmissionChain, forbidden, warning_sink

PODS = builtin_registry().get("", "v1", "pods")
assert PODS is not None


def _request(obj: dict[str, object] | None = None) -> AdmissionRequest:
    return AdmissionRequest(Operation.CREATE, PODS, "ns", "p", obj or {"metadata": {"name": "p"}}, None, None)


class Recorder:
    def __init__(self, name: str, log: list[str], *, handles: bool = True, fail: Exception | None = None) -> None:
        self.name = name
        self.log = log
        self._handles = handles
        self.fail = fail

    def handles(self, request: AdmissionRequest) -> bool:
        return self._handles

    async def admit(self, request: AdmissionRequest) -> None:
        self.log.append(f"admit:{self.name}")
        if self.fail is not None:
            raise self.fail
        assert request.obj is not None
        request.obj.setdefault("metadata", {}).setdefault("labels", {})[self.name] = "seen"
        request.warnings.append(f"{self.name} says hi")

    async def validate(self, request: AdmissionRequest) -> None:
        self.log.append(f"validate:{self.name}")
        if self.fail is not None:
            raise self.fail


async def test_plugins_run_in_order_and_see_each_others_changes() -> None:
    log: list[str] = []
    a, b, skipped = Recorder("a", log), Recorder("b", log), Recorder("c", log, handles=False)
    chain = AdmissionChain([a, skipped, b], [b, skipped, a])
    request = _request()
    await chain.admit(request)
    await chain.validate(request)
    assert log == ["admit:a", "admit:b", "validate:b", "validate:a"]
    assert request.obj is not None and request.obj["metadata"]["labels"] == {"a": "seen", "b": "seen"}


async def test_warnings_reach_the_request_sink_once() -> None:
    chain = AdmissionChain([Recorder("a", []), Recorder("a", [])])
    sink: list[str] = []
    token = warning_sink.set(sink)
    try:
        await chain.admit(_request())
    finally:
        warning_sink.reset(token)
    assert sink == ["a says hi"]
    await chain.admit(_request())  # no sink: dropped, no error


async def test_a_refusal_is_raised_as_is() -> None:
    request = _request()
    chain = AdmissionChain([], [Recorder("no", [], fail=forbidden(request, "not today"))])
    with pytest.raises(errors.Forbidden, match=r'^pods "p" is forbidden: not today$'):
        await chain.validate(request)


async def test_a_plugin_bug_is_a_500_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    chain = AdmissionChain([Recorder("buggy", [], fail=KeyError("spec"))])
    with pytest.raises(errors.InternalError, match="admission plugin 'buggy' failed"):
        await chain.admit(_request())
    assert "admission plugin buggy failed" in caplog.text


def test_an_empty_chain_is_false() -> None:
    assert not AdmissionChain()
    assert AdmissionChain([Recorder("a", [])])


class Quiet(Recorder):
    """A mutating-phase plugin that declares it never changes the object."""

    mutates = False


async def test_the_chain_reports_whether_a_plugin_may_have_changed_the_object() -> None:
    request = _request()
    await AdmissionChain([Quiet("q", []), Recorder("off", [], handles=False)]).admit(request)
    assert request.mutated is False  # only a non-mutating plugin and one that did not handle it
    await AdmissionChain([Quiet("q", []), Recorder("a", [])]).admit(request)
    assert request.mutated is True
