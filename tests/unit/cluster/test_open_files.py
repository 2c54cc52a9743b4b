"""Long-running processes take as many open files as the system allows (soft limit raised to the hard one)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import resource, sys
from pinnace.cluster.runtime_tuning import raise_open_files_limit
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1] if sys.argv[2] == "-" else int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
now = raise_open_files_limit()
print(now, *resource.getrlimit(resource.RLIMIT_NOFILE), hard)
"""


def _run(soft: int, hard: int | None) -> list[int]:
    argv = [sys.executable, "-c", CODE, str(soft), "-" if hard is None else str(hard)]
    return [int(n) for n in subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()]


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    # As distributions start processes: a low soft limit under a high hard one.
    now, soft, hard, original_hard = _run(256, None)
    assert original_hard > 256, "this machine's hard limit is too low to tell"
    assert now == soft == hard == original_hard


def test_a_soft_limit_at_the_hard_one_stays() -> None:
    assert _run(200, 200) == [200, 200, 200, 200]
