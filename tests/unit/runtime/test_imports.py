"""What importing the SDK costs: an operator without webhooks or probes does not load aiohttp's server."""

from __future__ import annotations

import subprocess
import sys


def test_the_sdk_loads_aiohttp_server_only_when_needed() -> None:
    code = (
        "import sys, pinnace.runtime as rt\n"
        "assert 'aiohttp.web' not in sys.modules, 'imported with the SDK'\n"
        "assert rt.WebhookServer.__name__ == 'WebhookServer' and callable(rt.validating)\n"
        "assert 'aiohttp.web' in sys.modules\n"
        "try:\n    rt.nothing\nexcept AttributeError:\n    pass\nelse:\n    raise AssertionError('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
