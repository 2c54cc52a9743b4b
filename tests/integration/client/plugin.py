"""An exec credential plugin for tests: a small Python script that counts its runs.

Each run appends to ``runs`` and prints an ExecCredential with ``token-<n>``
(n = the run's number) and, if the ``EXPIRES`` variable is set, that
expirationTimestamp; ``CERT_FILE``/``KEY_FILE`` add a client certificate.
The ``KUBERNETES_EXEC_INFO`` it received is saved to ``exec-info.json``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

SCRIPT = """#!{python}
import json, os, pathlib, sys
here = pathlib.Path({here!r})
runs = here / "runs"
n = len(runs.read_text().splitlines()) + 1 if runs.exists() else 1
with runs.open("a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
seen = {{
    "info": info,
    "stdin_tty": sys.stdin is not None and sys.stdin.isatty(),
    "env": {{k: v for k, v in os.environ.items() if k.startswith("PLUGIN_")}},
}}
(here / "exec-info.json").write_text(json.dumps(seen))
if os.environ.get("FAIL"):
    print("plugin says no", file=sys.stderr)
    sys.exit(3)
status = {{"token": os.environ.get("TOKEN_PREFIX", "token-") + str(n)}}
if os.environ.get("EXPIRES"):
    status["expirationTimestamp"] = os.environ["EXPIRES"]
if os.environ.get("CERT_FILE"):
    status["clientCertificateData"] = pathlib.Path(os.environ["CERT_FILE"]).read_text()
    status["clientKeyData"] = pathlib.Path(os.environ["KEY_FILE"]).read_text()
    if os.environ.get("NO_TOKEN"):
        del status["token"]
version = os.environ.get("REPLY_VERSION", info["apiVersion"])
print(json.dumps({{"apiVersion": version, "kind": "ExecCredential", "status": status}}))
"""


class Plugin:
    """A plugin script in ``directory``, and what it saw."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.path = directory / "plugin.py"
        self.path.write_text(SCRIPT.format(python=sys.executable, here=str(directory)))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)

    @property
    def runs(self) -> int:
        """How many times it ran."""
        runs = self.dir / "runs"
        return len(runs.read_text().splitlines()) if runs.exists() else 0

    @property
    def last(self) -> dict[str, Any]:
        """What the last run saw: ``info`` (KUBERNETES_EXEC_INFO), ``stdin_tty``, ``env`` (PLUGIN_*)."""
        result: dict[str, Any] = json.loads((self.dir / "exec-info.json").read_text())
        return result

    def stanza(self, **extra: Any) -> dict[str, Any]:
        """A kubeconfig ``exec`` stanza that runs this plugin."""
        return {
            "command": str(self.path),
            "apiVersion": "client.authentication.k8s.io/v1",
            "interactiveMode": "Never",
            **extra,
        }


def environ(**extra: str) -> dict[str, str]:
    """The test process's environment plus ``extra`` (for ExecAuth's ``environ``)."""
    return {**os.environ, **extra}
