"""What this Pinnace is and runs on, in Kubernetes' terms: the ``/version`` document and the platform name.

Shared by the API server (``/version``, what ``kubectl version`` shows), the
image store (which platform's image to pull) and ``pinnace version``.
"""

from __future__ import annotations

import platform
from typing import Any

from pinnace import KUBERNETES_VERSION, __version__

__all__ = ["architecture", "platform_name", "version_info"]

#: Machine names as Go (GOARCH) and OCI name them.
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "i686": "386"}


def architecture() -> str:
    """This machine's architecture as GOARCH and OCI name it (``amd64``, ``arm64``, ...)."""
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine)


def platform_name() -> str:
    """``os/arch``, as a Go binary's version reports its platform (``linux/amd64``)."""
    return f"{platform.system().lower()}/{architecture()}"


def version_info() -> dict[str, Any]:
    """The ``/version`` document (upstream's version.Info): the Kubernetes version served, and this build."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"{KUBERNETES_VERSION}+pinnace.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation().lower(),
        "platform": platform_name(),
    }
