"""Running a local cluster as a process: pid file, readiness, kubeconfig, signals.

``run_foreground`` is what ``pinnace up`` does in the terminal: start the
cluster, write ``DIR/kubeconfig`` and merge a ``pinnace`` context into the
user's kubeconfig, then serve until SIGINT/SIGTERM and shut down cleanly.
``start_detached`` runs the same in a background process and returns once it
is ready; ``stop`` and ``status`` find it again through its pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pinnace.cluster import pidfile

if TYPE_CHECKING:
    from pinnace.cluster.local import ClusterConfig

CONTEXT_NAME = "pinnace"
PID_FILE = "pinnace.pid"
LOG_FILE = "pinnace.log"
#: The admin kubeconfig the cluster writes in its data directory (:data:`pinnace.cluster.security.ADMIN_KUBECONFIG`;
#: not imported from there: ``pinnace status`` and ``down`` would load the API server's code to find a file).
KUBECONFIG_FILE = "kubeconfig"
#: How long `pinnace up` waits for its node agents to register before it says it is up (without them).
NODE_REGISTRATION_WAIT = 15.0


@dataclass(frozen=True, slots=True)
class RunningCluster:
    """What the pid file says about a running cluster."""

    pid: int
    url: str


def read_pid_file(data_dir: Path) -> RunningCluster | None:
    """The cluster recorded in ``data_dir``, if its process is alive (and is the one that wrote the record)."""
    info = pidfile.read(data_dir / PID_FILE)
    if info is None or "url" not in info:
        return None
    return RunningCluster(int(info["pid"]), str(info["url"]))


def is_ready(url: str, timeout: float = 1.0, *, data_dir: Path | None = None) -> bool:
    """Whether the API server at ``url`` answers ``/readyz`` with ok.

    Over HTTPS, with the CA and admin credentials of ``data_dir``'s kubeconfig (not ready while it is missing).
    """
    from pinnace.client.exceptions import ConfigError

    context = None
    if url.startswith("https:"):
        from pinnace.client import load_client_config  # not cluster.security: `pinnace status` loads no server code

        try:
            if data_dir is not None:
                context = load_client_config(str(data_dir / KUBECONFIG_FILE)).ssl_context()
        except (OSError, ValueError, ConfigError):
            return False
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=timeout, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def context_name(data_dir: Path, server: str, user_config: dict[str, object]) -> str:
    """The context a cluster merges into the user's kubeconfig: ``pinnace``, unless that one is another
    cluster's (its server differs: a second cluster on the host); then ``pinnace-<data directory name>``, so each
    cluster keeps a context of its own (kind names its contexts ``kind-<cluster>`` likewise)."""
    from pinnace.client import kubeconfig

    try:
        taken = kubeconfig.server_of(user_config, CONTEXT_NAME) != server
    except ValueError:  # no such context (or a broken one): ours to write
        taken = False
    if not taken:
        return CONTEXT_NAME
    suffix = "".join(c if c.isalnum() or c in "-_." else "-" for c in data_dir.resolve().name).strip("-.")
    return f"{CONTEXT_NAME}-{suffix or 'cluster'}"


def write_kubeconfigs(data_dir: Path, merge_user: bool = True) -> tuple[Path, Path | None, str]:
    """Merge ``DIR/kubeconfig`` (the cluster wrote it: admin credentials, context ``pinnace``) into the user's,
    under :func:`context_name`; (that file, the user's file or None, the context name)."""
    from pinnace.adm.kubeconfigs import renamed
    from pinnace.client import kubeconfig

    own = data_dir / KUBECONFIG_FILE
    if not merge_user:
        return own, None, CONTEXT_NAME
    config = kubeconfig.load(own)
    name = context_name(data_dir, kubeconfig.server_of(config), kubeconfig.load(kubeconfig.user_kubeconfig_path()))
    merged = kubeconfig.merge_into_user_config(renamed(config, name) if name != CONTEXT_NAME else config)
    return own, merged, name


def not_merged(reason: Exception) -> str:
    """The warning for a user's kubeconfig that the cluster's context could not be merged into."""
    return f"warning: the cluster's context was not merged into your kubeconfig: {reason}"


def next_steps(url: str, own: Path, merged: Path | None, context: str = CONTEXT_NAME) -> str:
    """What to tell the user once the cluster is up."""
    lines = [f"Pinnace is up: the API server listens on {url}", f"kubeconfig: {own}"]
    if merged is not None:
        lines.append(f'The context "{context}" was merged into {merged} and made current.')
    lines += [
        "",
        "Try:",
        "  kubectl get namespaces,nodes",
        "  kubectl create deployment web --image=busybox -- sh -c 'while :; do date; sleep 5; done'",
        "  kubectl logs deployment/web",
        "  kubectl api-resources",
        "",
        "Stop it with Ctrl-C here, or `pinnace down` from another terminal.",
    ]
    return "\n".join(lines)


def run_foreground(config: ClusterConfig, *, merge_user: bool = True, announce: Callable[[str], None] = print) -> int:
    """Run the cluster until SIGINT/SIGTERM; returns the exit code."""
    existing = read_pid_file(config.data_dir)
    if existing is not None and existing.pid != os.getpid():
        announce(
            f"A Pinnace cluster is already running from {config.data_dir} (pid {existing.pid}, {existing.url}); "
            "run `pinnace down` first."
        )
        return 1
    from pinnace.cluster.runtime_tuning import prepare_server_process

    prepare_server_process()
    return asyncio.run(_serve(config, merge_user, announce))


async def _serve(config: ClusterConfig, merge_user: bool, announce: Callable[[str], None]) -> int:
    from pinnace.cluster.local import LocalCluster
    from pinnace.cluster.netslot import SlotBusyError
    from pinnace.cluster.runtime_tuning import MemoryScavenger, tune_garbage_collector
    from pinnace.storage.interface import StorageError

    cluster = LocalCluster(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await cluster.start()
    except StorageError as exc:
        announce(f"cannot open the store ({config.store.describe(config.data_dir)}): {exc}")
        await cluster.stop()
        return 1
    except OSError as exc:  # a file it could not write (a full disk, a read-only directory), or its address
        where = "the cluster" if exc.filename else f"the API server on {config.host}:{config.port}"
        announce(f"cannot start {where}: {exc}")
        await cluster.stop()
        return 1
    except SlotBusyError as exc:
        announce(f"cannot start the cluster: {exc}")
        await cluster.stop()
        return 1
    # From here on, whatever fails stops the cluster: its children would outlive it, and this process would wait
    # for them for ever as it exits.
    pid_path = config.data_dir / PID_FILE
    scavenger: asyncio.Task[None] | None = None
    try:
        # Up means its nodes are listed too: `kubectl get nodes` right after must not find none.
        missing = await cluster.wait_for_nodes(NODE_REGISTRATION_WAIT)
        if missing:
            announce(f"warning: node(s) {', '.join(missing)} had not registered after {NODE_REGISTRATION_WAIT:.0f} s")
        try:
            own, merged, context = write_kubeconfigs(config.data_dir, merge_user)  # before the pid file says "up"
        except (OSError, ValueError) as exc:  # the user's kubeconfig is unreadable or no kubeconfig: theirs to mend
            announce(not_merged(exc))
            own, merged, context = write_kubeconfigs(config.data_dir, merge_user=False)
        pidfile.write(pid_path, os.getpid(), url=cluster.url)
        steps = next_steps(cluster.url, own, merged, context)
        announce(steps + f"\nObjects are kept in {config.store.describe(config.data_dir)}.")
        tune_garbage_collector()  # after start-up: what exists now is frozen out of collection
        scavenger = asyncio.create_task(MemoryScavenger.run_forever(), name="memory-scavenger")
        await stop.wait()
    finally:
        # Best effort: with the disk full, printing to the log the output goes to fails, and that must not leave
        # the controller manager and node agents running (nor this process waiting for them for ever).
        with contextlib.suppress(OSError):
            announce("Shutting down…")
        if scavenger is not None:
            scavenger.cancel()
        await cluster.stop()
        with contextlib.suppress(FileNotFoundError):
            pid_path.unlink()
    return 0


def start_detached(
    config: ClusterConfig, *, merge_user: bool = True, timeout: float = 30.0, extra_args: Sequence[str] = ()
) -> RunningCluster:
    """Start the cluster in a background process and wait until it is ready (``extra_args`` go to ``pinnace up``)."""
    existing = read_pid_file(config.data_dir)
    if existing is not None:
        raise RuntimeError(f"a Pinnace cluster is already running from {config.data_dir} (pid {existing.pid})")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "pinnace",
        "up",
        "--data-dir",
        str(config.data_dir),
        "--port",
        str(config.port),
        "--host",
        config.host,
    ]
    if not merge_user:
        args.append("--no-merge-kubeconfig")
    args.extend(extra_args)
    with open(config.data_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the cluster process exited with code {proc.returncode}; see {config.data_dir / LOG_FILE}"
            )
        running = read_pid_file(config.data_dir)
        if running is not None and running.pid == proc.pid and is_ready(running.url, data_dir=config.data_dir):
            return running
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"the cluster did not become ready within {timeout:.0f}s; see {config.data_dir / LOG_FILE}")


def stop(data_dir: Path, timeout: float = 20.0) -> RunningCluster | None:
    """Stop the cluster running from ``data_dir`` (SIGTERM, then wait); None if none was running."""
    running = read_pid_file(data_dir)
    if running is None:
        return None
    os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(running.pid, 0)
        except ProcessLookupError:
            return running
        if read_pid_file(data_dir) is None:
            return running
        time.sleep(0.05)
    raise RuntimeError(
        f"the cluster (pid {running.pid}) did not stop within {timeout:.0f}s (see {data_dir / LOG_FILE}); "
        f"`kill -9 {running.pid}` ends it at once: every acknowledged write is on disk, and its controller manager "
        "and node agents end with it"
    )
