"""The API fuzzer (``tools/fuzz_api.py``) with a fixed seed and a small budget: no 5xx, hang or odd error body."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from fuzz_api import Fuzzer, in_process_target, report


def test_a_short_fuzz_run_finds_nothing() -> None:
    with in_process_target() as target:
        # slow=10: a 2 MiB body takes ~0.6 s alone, several seconds on a busy CI machine (the long runs use 2 s)
        fuzzer = Fuzzer(target, seed=20261126, budget=1500, seconds=20, slow=10)
        findings = fuzzer.run()
    lines: list[str] = []
    report(findings, lines.append)
    assert not findings, "\n".join(lines)
    assert fuzzer.sent >= 300, fuzzer.sent  # it did send a fair number of requests


def test_a_server_grown_past_the_memory_limit_is_a_finding() -> None:
    with in_process_target() as target:
        assert target.resident is not None and 0 < target.resident() < 1 << 40  # this process's own size
        fuzzer = Fuzzer(target, seed=1, budget=120, seconds=20, slow=10, max_resident=target.resident() // 2)
        findings = fuzzer.run()
    memory = [f for f in findings if f.what == "server memory"]
    assert len(memory) == 1 and "MB resident (over" in memory[0].detail  # once, though every batch is over
    assert re.fullmatch(r"the \w+ batch of requests \d+-\d+", memory[0].request.path)  # the first batch's
