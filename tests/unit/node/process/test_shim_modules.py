"""The process runtime's shim runs by file path, stdlib only, its parts as sibling modules."""

from __future__ import annotations

from pathlib import Path

from tests.unit.fresh_interpreter import modules_loaded

import pinnace.node.process.shim as shim_module


def test_the_shim_and_its_parts_load_by_path_with_nothing_of_pinnace() -> None:
    # As the runtime starts it (python -S shim.py): no site-packages, so nothing but the stdlib and its siblings;
    # the agent's package (asyncio, aiohttp, ...) would cost every container's shim start-up time and memory.
    # (crilog, the CRI log writer the oci shim uses too, lives in the directory above, stdlib only as well.)
    directory = Path(shim_module.__file__).parent
    code = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import shim\n"
        "assert shim.Shim.__mro__[1].__name__ == 'ShimSessions'\n"
    )
    loaded = modules_loaded(code, str(directory), python_flags=["-S"])
    ours = sorted(m for m in loaded if m.startswith(("pinnace", "shim", "crilog")))
    assert ours == ["crilog", "shim", "shim_host", "shim_io", "shim_sessions"]


def test_as_part_of_the_package_the_shim_uses_the_package_modules() -> None:
    from pinnace.node.process import shim_io, shim_sessions

    assert issubclass(shim_module.Shim, shim_sessions.ShimSessions)
    assert issubclass(shim_sessions.ShimSessions, shim_io.ShimIO)
