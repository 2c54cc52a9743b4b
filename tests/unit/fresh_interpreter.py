"""What a piece of code loads: run it in a fresh interpreter and list the modules in ``sys.modules`` after it.

Several entry points promise to stay lean (the API server without the command line, ``pinnace down`` without the
server, the node agent and the shim without cryptography or site-packages); their tests share this probe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence


def modules_loaded(code: str, *args: str, python_flags: Sequence[str] = ()) -> set[str]:
    """The modules loaded once ``code`` has run in a fresh ``python`` (with ``python_flags``; ``sys.argv[1:]`` is
    ``args``). The probe itself adds ``json``."""
    probe = f"{code}\nimport json as _json, sys as _sys\nprint(_json.dumps(sorted(_sys.modules)))"
    out = subprocess.run(
        [sys.executable, *python_flags, "-c", probe, *args], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))
