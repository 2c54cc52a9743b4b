"""What a pod's containers share besides the network: IPC and UTS namespaces, and /dev/shm.

In a kubelet with containerd, the pod's pause container holds these; every
container of the pod joins them. Without a pause process, each is kept alive
by a bind mount instead (as ``ip netns`` keeps a network namespace): what
``unshare --ipc=FILE --uts=FILE hostname NAME`` would do — make both and set
the pod's hostname in its UTS namespace — is done in-process
(:mod:`.nsfiles`), and a tmpfs per pod is its shared ``/dev/shm`` (64 MiB,
containerd's default size).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from dataclasses import dataclass

from pinnace.node.cri import RuntimeFailure
from pinnace.node.oci import nsfiles

#: Namespace files live on /run (a tmpfs of the host), not in the state directory.
NS_DIR = "/run/pinnace-oci/ns"
SHM_OPTIONS = b"mode=1777,size=65536k"
MNT_DETACH = 2


@dataclass(frozen=True, slots=True)
class PodNamespaces:
    """The bind-mounted namespace files and the shm directory of one pod ("" where not used)."""

    ipc: str = ""
    uts: str = ""
    shm: str = ""


async def create(sandbox_id: str, sandbox_dir: str, hostname: str, *, own_uts: bool) -> PodNamespaces:
    """A pod's IPC namespace, its UTS namespace (with its hostname; not for hostNetwork pods) and /dev/shm."""
    os.makedirs(NS_DIR, exist_ok=True)
    ipc = os.path.join(NS_DIR, f"{sandbox_id}-ipc")
    uts = os.path.join(NS_DIR, f"{sandbox_id}-uts") if own_uts else ""
    files = {nsfiles.CLONE_NEWIPC: ipc, **({nsfiles.CLONE_NEWUTS: uts} if uts else {})}
    try:
        await nsfiles.in_new_thread(
            lambda: nsfiles.persist(files, (lambda: socket.sethostname(hostname)) if uts else None)
        )
    except OSError as exc:
        raise RuntimeFailure(f"creating the pod's IPC/UTS namespaces: {exc}") from exc
    shm = os.path.join(sandbox_dir, "shm")
    os.makedirs(shm, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"shm", shm.encode(), b"tmpfs", 0, SHM_OPTIONS) != 0:
        err_no = ctypes.get_errno()
        release(PodNamespaces(ipc, uts))
        raise RuntimeFailure(f"mounting the pod's /dev/shm: {os.strerror(err_no)}")
    return PodNamespaces(ipc, uts, shm)


def release(namespaces: PodNamespaces) -> None:
    """Unmount and remove what :func:`create` made. Idempotent."""
    libc = ctypes.CDLL(None, use_errno=True)
    for path in filter(None, (namespaces.ipc, namespaces.uts, namespaces.shm)):
        libc.umount2(path.encode(), MNT_DETACH)
        with contextlib.suppress(OSError):
            if os.path.isdir(path):
                os.rmdir(path)
            else:
                os.unlink(path)
