"""The Pinnace SDK against kopf: the same operator, the same workload, the same ``pinnace up``.

The workload: a namespaced ``Widget`` CRD (``widgets.bench.example.com``, with
a status subresource); N widgets (default 1,000) are created as fast as a
loader in its own process can; for each, the operator creates a ConfigMap owned
by the widget and sets the widget's ``status.configMap``. The two operators are
``widgets_kopf.py`` (kopf, from PyPI, run with ``kopf run --standalone``) and
``widgets_sdk.py`` (the SDK: Builder, a typed kind, owner references), each in
its own process with the kubeconfig ``pinnace up`` wrote, one after the other,
each in a fresh namespace of the same server.

Per framework it measures:

- seconds from the first create to all N reconciled (every ConfigMap exists and
  every status is set, seen through watches on the two kinds), after the
  operator has started and reconciled one canary widget (so start-up is not
  counted);
- the operator process's peak RSS (``VmHWM``) and the CPU time it used.

Targets (issue 5): the SDK's throughput >= 5x kopf's, its peak RSS <= 0.5x.
The machine is shared: absolute figures are noisy; both frameworks run under
the same conditions, one after the other.

Run: ``python benchmarks/runtime_vs_kopf.py [--objects N] [--quick] [--only sdk|kopf] [--workers N]``.
Exit status: 0 if both targets are met (or only one framework ran), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
GROUP, VERSION, PLURAL = "bench.example.com", "v1", "widgets"
LABEL_SELECTOR = "app.kubernetes.io/managed-by=widget-operator"
LOADER_CONNECTIONS = 16
CANARY = "canary"


def _load(name: str) -> Any:
    """A sibling benchmark module, imported by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"pinnace_benchmark_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


api = _load("api")  # Pinnace (the `pinnace up` process), the raw HTTP client, small utilities


def widgets_path(namespace: str, name: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


def widget(name: str, i: int) -> bytes:
    return orjson.dumps(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"size": i % 5 + 1, "color": ("blue", "green", "red")[i % 3]},
        }
    )


# ---- the loader (its own process) ---------------------------------------------------------------
def _loader_process(port: int, namespace: str, count: int, out: Connection) -> None:
    out.send(api._run(_loader(port, namespace, count)))
    out.close()


async def _loader(port: int, namespace: str, count: int) -> tuple[float, float, int, dict[int, int]]:
    """Create ``count`` widgets over keep-alive connections; (first send, last ack, ok, failures by status)."""
    conns = [await api.HTTPConnection.open(port) for _ in range(LOADER_CONNECTIONS)]
    names = iter(range(count))
    path = widgets_path(namespace)
    ok = 0
    failed: dict[int, int] = {}

    async def worker(conn: Any) -> None:
        nonlocal ok
        for i in names:
            status, _ = await conn.request(api.http_request("POST", path, widget(f"w-{i:05d}", i)))
            if status == 201:
                ok += 1
            else:
                failed[status] = failed.get(status, 0) + 1

    first = time.time()
    await asyncio.gather(*(worker(c) for c in conns))
    last = time.time()
    for c in conns:
        c.close()
    return first, last, ok, failed


def run_loader(port: int, namespace: str, count: int, timeout: float) -> tuple[float, float, int, dict[int, int]]:
    result: tuple[float, float, int, dict[int, int]] = api.run_in_process(
        _loader_process, (port, namespace, count), timeout, "the loader"
    )
    return result


# ---- watching for "reconciled" ------------------------------------------------------------------
class Progress:
    """Which widgets are reconciled: a watch on the widgets for their status, a LIST for the ConfigMaps.

    Both operators create the ConfigMap before they set the status, so the
    ConfigMaps are checked with one LIST (label selector) once every status is
    seen, not with a second watch that would load the server during the run.
    """

    def __init__(self, port: int, namespace: str) -> None:
        from pinnace.client.rest import ResourceRef

        self.rest = api.rest_client(port, timeout=60)
        self.namespace = namespace
        self.widgets = ResourceRef(GROUP, VERSION, PLURAL)
        self.configmaps = ResourceRef("", "v1", "configmaps")
        self.status_set: set[str] = set()
        self.changed = asyncio.Event()
        self.last_change = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        opened = asyncio.Event()
        self._task = asyncio.create_task(self._watch(opened))
        await asyncio.wait_for(opened.wait(), 30)

    async def _watch(self, opened: asyncio.Event) -> None:
        rv: str | None = None
        while True:
            try:
                async for event in self.rest.watch(
                    self.widgets, self.namespace, resource_version=rv, timeout_seconds=900, on_open=opened.set
                ):
                    rv = event.object.get("metadata", {}).get("resourceVersion") or rv
                    if event.type in ("ADDED", "MODIFIED") and (event.object.get("status") or {}).get("configMap"):
                        name = event.object["metadata"]["name"]
                        if name not in self.status_set:
                            self.status_set.add(name)
                            self.last_change = time.time()
                            self.changed.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broken stream: resume from the last resourceVersion seen
                print(f"    (the widget watch restarted: {exc!r})")
                await asyncio.sleep(0.1)

    async def configmaps_missing(self, names: set[str]) -> set[str]:
        page = await self.rest.list(self.configmaps, self.namespace, labelSelector=LABEL_SELECTOR)
        return names - {item["metadata"]["name"] for item in page.get("items") or []}

    async def wait_for(self, names: set[str], timeout: float, alive: Any) -> float:
        """Wait until every name is reconciled; when the last of them was."""
        deadline = time.monotonic() + timeout

        def check_time() -> float:
            if not alive():
                raise RuntimeError("the operator process exited")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(names & self.status_set)} of {len(names)} statuses set")
            return left

        while not names <= self.status_set:
            left = check_time()
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        end = self.last_change
        while missing := await self.configmaps_missing(names):
            check_time()
            print(f"    ({len(missing)} ConfigMaps missing after every status was set)")
            await asyncio.sleep(0.05)
            end = time.time()
        return end

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.rest.close()


# ---- one framework ------------------------------------------------------------------------------
@dataclass
class Figures:
    framework: str
    objects: int
    seconds: float  # first create to all reconciled
    create_seconds: float  # first create to last create acknowledged
    peak_rss_mb: float
    ready_rss_mb: float  # after start-up and the canary
    cpu_seconds: float  # operator CPU during the measured window
    server_cpu_seconds: float  # the API server's CPU in the same window
    requests: dict[str, float]  # API requests in the window by "VERB resource[/subresource]" (the loader's too)

    @property
    def rate(self) -> float:
        return self.objects / self.seconds


def operator_command(framework: str, namespace: str, workers: int, profile: str | None) -> list[str]:
    python = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    if framework == "kopf":
        path = HERE / "widgets_kopf.py"
        return [*python, "-m", "kopf", "run", "--standalone", "--quiet", "--namespace", namespace, str(path)]
    return [*python, str(HERE / "widgets_sdk.py"), "--namespace", namespace, "--workers", str(workers)]


async def measure(
    framework: str, server: Any, base: Path, objects: int, workers: int, timeout: float, profile: str | None = None
) -> Figures:
    port = server.port
    namespace = base.name  # bench-FRAMEWORK-ROUND: a fresh namespace per run
    body = orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    status, answer = await api.call(port, "POST", "/api/v1/namespaces", body)
    assert status == 201, answer
    log_path = base / f"{framework}.log"
    env = {**os.environ, "KUBECONFIG": str(server.data_dir / "kubeconfig"), "HOME": str(server.home)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            operator_command(framework, namespace, workers, profile),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
        )

    def alive() -> bool:
        return proc.poll() is None

    progress = Progress(port, namespace)
    try:
        await progress.start()
        # The canary: the operator is up, its watches are open and it reconciles.
        status, answer = await api.call(port, "POST", widgets_path(namespace), widget(CANARY, 0))
        assert status == 201, answer
        await progress.wait_for({CANARY}, 120, alive)
        ready_rss = api.rss_mb(proc.pid)
        requests0 = await request_counts(port)
        cpu0, server_cpu0 = api.cpu_seconds(proc.pid), api.cpu_seconds(server.pid)
        names = {f"w-{i:05d}" for i in range(objects)}
        loop = asyncio.get_running_loop()
        load = loop.run_in_executor(None, run_loader, port, namespace, objects, timeout)
        try:
            end = await progress.wait_for(names, timeout, alive)
        finally:
            first, last, ok, failed = await load
        if ok != objects:
            raise RuntimeError(f"the loader created {ok} of {objects} widgets: {failed}")
        cpu, server_cpu = api.cpu_seconds(proc.pid) - cpu0, api.cpu_seconds(server.pid) - server_cpu0
        rss = api.rss_mb(proc.pid, "VmHWM")
        requests = await request_counts(port)
        requests = {k: v - requests0.get(k, 0) for k, v in requests.items() if v - requests0.get(k, 0) > 0}
        return Figures(framework, objects, end - first, last - first, rss, ready_rss, cpu, server_cpu, requests)
    except BaseException:
        print(f"    {framework} failed; the last lines of {log_path.name}:")
        with contextlib.suppress(OSError):
            for line in log_path.read_text(errors="replace").splitlines()[-25:]:
                print(f"      {line}")
        raise
    finally:
        await progress.close()
        stop(proc)


async def request_counts(port: int) -> dict[str, float]:
    """The server's ``apiserver_request_total`` summed by "VERB resource[/subresource]" (watches excluded)."""
    status, body = await api.call(port, "GET", "/metrics")
    assert status == 200, body
    counts: dict[str, float] = {}
    for line in body.decode().splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line[len("apiserver_request_total{") :].rpartition("} ")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if labels.get("verb") == "WATCH" or labels.get("resource") in ("", None):
            continue
        key = f"{labels['verb']} {labels['resource']}" + (
            f"/{labels['subresource']}" if labels.get("subresource") else ""
        )
        counts[key] = counts.get(key, 0) + float(value)
    return counts


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def install_crd(port: int) -> None:
    """The Widget CRD, generated from the SDK operator's typed model; returns once it is served."""
    from pinnace.runtime.crdgen import crd_for

    crd = crd_for(_load("widgets_sdk").Widget)
    status, answer = await api.call(
        port, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", orjson.dumps(crd)
    )
    assert status == 201, answer
    deadline = time.monotonic() + 30
    while (await api.call(port, "GET", widgets_path("default")))[0] != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the Widget CRD is not served")
        await asyncio.sleep(0.05)


def report(results: dict[str, list[Figures]]) -> list[tuple[str, bool, str]]:
    """Every run, then the best of each framework (the run least disturbed by the rest of the machine)."""
    print()
    print(
        f"{'run':8} {'objects':>7} {'seconds':>8} {'objects/s':>10} {'creates':>8} {'peak RSS':>9} {'ready RSS':>10} "
        f"{'CPU s':>6} {'ms/object':>9} {'server CPU s':>12}"
    )
    for runs in results.values():
        for i, f in enumerate(runs, 1):
            print(
                f"{f'{f.framework} #{i}':8} {f.objects:7d} {f.seconds:8.2f} {f.rate:10.1f} {f.create_seconds:7.2f}s "
                f"{f.peak_rss_mb:7.1f}MB {f.ready_rss_mb:8.1f}MB {f.cpu_seconds:6.2f} "
                f"{f.cpu_seconds / f.objects * 1e3:9.2f} {f.server_cpu_seconds:12.2f}"
            )
    print("(seconds: first create to all reconciled; creates: the loader's own time to create them all;")
    print(" peak RSS: the operator process's VmHWM; CPU s: the operator's CPU time in the measured window")
    print(" (ms/object: that per object),")
    print(" server CPU s: the API server's in the same window)")
    print("API requests per object in the window (the loader's creates included; watches not):")
    for runs in results.values():
        for i, f in enumerate(runs, 1):
            per = ", ".join(f"{k} {v / f.objects:.2f}" for k, v in sorted(f.requests.items()))
            print(f"  {f.framework} #{i}: {per}")
    if "sdk" not in results or "kopf" not in results:
        return []
    sdk, kopf = (min(results[f], key=lambda r: r.seconds) for f in ("sdk", "kopf"))
    sdk_rss, kopf_rss = (max(r.peak_rss_mb for r in results[f]) for f in ("sdk", "kopf"))
    speed = sdk.rate / kopf.rate
    median = statistics.median(r.rate for r in results["sdk"]) / statistics.median(r.rate for r in results["kopf"])
    memory = sdk_rss / kopf_rss
    print()
    print(f"throughput (best runs): SDK {sdk.rate:.0f}/s, kopf {kopf.rate:.0f}/s: {speed:.1f}x (target >= 5x)")
    kopf_ms, sdk_ms = (f.cpu_seconds / f.objects * 1e3 for f in (kopf, sdk))
    per_object = f"kopf {kopf_ms:.2f} ms, SDK {sdk_ms:.2f} ms"
    print(f"  (medians: {median:.1f}x; operator CPU per object: {per_object}: {kopf_ms / sdk_ms:.1f}x less)")
    print(
        f"peak RSS (highest of the runs): SDK {sdk_rss:.0f} MB, kopf {kopf_rss:.0f} MB: {memory:.2f}x (target <= 0.5x)"
    )
    return [
        ("throughput", speed >= 5, f"{speed:.1f}x kopf's (>= 5x)"),
        ("peak RSS", memory <= 0.5, f"{memory:.2f}x kopf's (<= 0.5x)"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--objects", type=int, default=0, help="widgets to create (default 1000; 200 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer objects, one round (well under a minute)")
    parser.add_argument("--rounds", type=int, default=0, help="runs per framework, interleaved (default 3; 1 quick)")
    parser.add_argument("--only", choices=("kopf", "sdk"), help="run one framework only")
    parser.add_argument("--workers", type=int, default=16, help="the SDK's max_concurrent_reconciles")
    parser.add_argument("--dir", help="where the temporary directory goes (default: the system's)")
    parser.add_argument("--profile", metavar="DIR", help="run the operators under cProfile: DIR/FRAMEWORK-ROUND.prof")
    args = parser.parse_args()
    objects = args.objects or (200 if args.quick else 1000)
    rounds = args.rounds or (1 if args.quick else 3)
    timeout = 60 + objects * 0.2
    frameworks = [args.only] if args.only else ["kopf", "sdk"]
    kopf_version = ""
    if "kopf" in frameworks:
        try:
            import kopf
        except ImportError:
            parser.error("kopf is not installed: pip install kopf (it is in the test extra)")
        kopf_version = getattr(kopf, "__version__", "")

    print(f"Pinnace SDK vs kopf {kopf_version}: {objects} widgets, a ConfigMap and a status each; {rounds} round(s)")
    print(
        f"{os.cpu_count()} cores, load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        "(a shared machine: absolute figures are noisy)"
    )
    t0 = time.monotonic()
    results: dict[str, list[Figures]] = {f: [] for f in frameworks}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="pinnace-kopf-bench-") as tmp:
        base = Path(tmp)
        server = api.Pinnace(base / "pinnace")
        try:
            print(f"pinnace up ready in {server.start():.2f} s on port {server.port}")
            api._run(install_crd(server.port))
            for round_ in range(1, rounds + 1):
                for framework in frameworks:
                    run_dir = base / f"bench-{framework}-{round_}"
                    run_dir.mkdir()
                    prof = Path(args.profile, f"{framework}-{round_}.prof").resolve() if args.profile else None
                    figures = measure(framework, server, run_dir, objects, args.workers, timeout, prof and str(prof))
                    f = api._run(figures)
                    results[framework].append(f)
                    print(
                        f"{framework} #{round_}: {f.seconds:.2f} s, {f.rate:.0f} objects/s, "
                        f"peak RSS {f.peak_rss_mb:.0f} MB",
                        flush=True,
                    )
        finally:
            server.stop()
            shutil.rmtree(base, ignore_errors=True)
    verdicts = report(results)
    print()
    print(f"total run time {time.monotonic() - t0:.0f} s")
    for name, ok, detail in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
