"""A busybox root filesystem built by hand from the host's static /bin/busybox, and an image source over it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pinnace.node.images.config import ImageConfig


def make_busybox_rootfs(root: str) -> str:
    """A rootfs with /bin/busybox, a symlink per applet, and passwd/group files."""
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", applet))
    for directory in ("etc", "tmp", "proc", "sys", "dev", "root", "www"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    with open(os.path.join(root, "etc", "passwd"), "w") as handle:
        handle.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as handle:
        handle.write("root:x:0:\nnogroup:x:65534:\n")
    with open(os.path.join(root, "www", "index.html"), "w") as handle:
        handle.write("hello from busybox\n")
    return root


class BusyboxImages:
    """An image source with one image, whatever its name: the hand-made busybox rootfs."""

    def __init__(self, rootfs: str, config: ImageConfig | None = None) -> None:
        self._rootfs = Path(rootfs)
        self._config = config or ImageConfig(cmd=("sh",), env=("PATH=/bin",), working_dir="/")

    async def unpack(self, image: str) -> Path:
        return self._rootfs

    async def image_config(self, image: str) -> ImageConfig:
        return self._config
