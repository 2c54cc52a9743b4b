"""The cost of security per request: authentication + authorization + admission, on against off.

Two API servers, each in its own process on the same PKI, both serving HTTPS
with the same serving certificate, are driven by the same load generator
(``benchmarks/api.py``'s: a keep-alive client in a process of its own, every
request carrying the same bearer token):

- **on**: what ``pinnace up`` runs — client certificates of the cluster CA,
  the static token file, service-account and bootstrap tokens
  (``cluster.security``), RBAC if it has landed (``apiserver.authz``; the token's
  group ``kubeadm:cluster-admins`` bound to cluster-admin, as ``kubeadm init``
  binds it), and kube-apiserver's default admission plugins;
- **off**: the same server with no authenticator, no authorizer and no
  admission plugin (the token is ignored);
- and in between, to tell the layers' shares apart: **authn** (authentication
  only) and **authn+authz** (authentication and RBAC, no admission).

For GET by name and for POST (configmap creates, durable) it measures
requests/s and the server's CPU microseconds per request, alternating off and
on, best of the rounds. The verdict is on the rate ratio off/on (target ≤ 1.3x);
CPU per request is the steadier figure on a shared machine and is printed too.

``--paired`` is for a machine others are loading: each round loads all four
servers at once (each with its own load generator), so that whatever else runs
weighs on all of them alike, and the verdict is the median over the rounds of
each round's CPU-per-request ratio on/off. Rates are then shares of a crowded
machine and are not printed.

Run: ``python benchmarks/auth.py [--quick] [--paired]``. Exit status 0 if both
ratios meet the target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
TARGET = 1.3
CONNECTIONS = 16


def _load(name: str) -> ModuleType:
    """A sibling benchmark module, imported by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"pinnace_benchmark_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


api = _load("api")


# ---- the servers ----------------------------------------------------------------------------------
async def _bind_cluster_admins(server: Any) -> None:
    """kubeadm init's ClusterRoleBinding: group kubeadm:cluster-admins → cluster-admin."""
    from pinnace.api import errors

    info = server.registry.get("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    binding = {
        "metadata": {"name": "kubeadm:cluster-admins"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubeadm:cluster-admins"}],
    }
    with contextlib.suppress(errors.AlreadyExists):
        await server.rest.create(info, None, binding)


#: The servers compared: nothing on, then each layer added in request order.
MODES = ("off", "authn", "authn+authz", "on")


async def _serve(directory: str, mode: str, port: int, ready: Connection) -> None:
    from pinnace.adm.pki import PKIConfig, create_pki
    from pinnace.apiserver.admission.plugins import DEFAULT_PLUGINS
    from pinnace.apiserver.authn import serving_context
    from pinnace.apiserver.server import APIServer
    from pinnace.cluster.security import SecurityConfig, secure_server
    from pinnace.storage.sqlite import SQLiteStore

    base = Path(directory)
    pki = create_pki(base, PKIConfig(node_name="bench"))
    store = await SQLiteStore.open(base / f"{mode}.db")
    crt, key = pki.path("apiserver")
    what = []
    if mode == "off":
        server = APIServer(store, admission_plugins=())
        tls = serving_context(crt, key)
        what.append("no authentication, no authorization, no admission")
    else:
        plugins = DEFAULT_PLUGINS if mode == "on" else ()
        server = APIServer(store, service_account_key=pki.sa_key, admission_plugins=plugins)
        tls = secure_server(server, pki, SecurityConfig(token_auth_file=base / "tokens.csv"))
        what.append("authentication (x509, token file, service accounts, bootstrap tokens)")
        if mode != "authn":
            try:
                from pinnace.apiserver.authz.chain import enable_rbac
            except ImportError:
                what.append("no authorizer (RBAC not there yet)")
            else:
                await enable_rbac(server)
                await _bind_cluster_admins(server)
                what.append("RBAC (system:masters, Node, RBAC chain)")
        what.append(f"admission: {', '.join(plugins) or 'none'}")
    await server.listen(api.HOST, port, ssl=tls)
    ready.send("; ".join(what))
    await asyncio.Event().wait()


def _server_process(directory: str, mode: str, port: int, ready: Connection) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        api._run(_serve(directory, mode, port, ready))


@dataclass
class Server:
    proc: Any
    port: int
    what: str


def start(directory: Path, mode: str) -> Server:
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    port = api.free_port()
    proc = ctx.Process(target=_server_process, args=(str(directory), mode, port, send), daemon=True)
    proc.start()
    if not recv.poll(120):
        proc.kill()
        raise TimeoutError("the server did not start")
    return Server(proc, port, recv.recv())


def stop(server: Server) -> None:
    server.proc.terminate()
    server.proc.join(5)
    if server.proc.is_alive():
        server.proc.kill()
        server.proc.join()


# ---- measuring ------------------------------------------------------------------------------------
@dataclass
class Sample:
    rate: float
    cpu_us: float
    errors: int


def measure(server: Server, spec: Any, duration: float) -> Sample:
    cpu0 = api.cpu_seconds(server.proc.pid)
    result = api.run_load(spec, duration + 60)
    cpu = api.cpu_seconds(server.proc.pid) - cpu0
    done = result.ok + result.errors
    if result.errors:
        print(f"    warning: {result.errors} errors {result.statuses} on port {server.port}")
    return Sample(result.rate, cpu / done * 1e6 if done else float("nan"), result.errors)


def prepare(port: int) -> None:
    for path, body in (
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        ("/api/v1/namespaces/bench/configmaps", orjson.loads(api.configmap("bench-get"))),
    ):
        status, answer = api._run(api.call(port, "POST", path, orjson.dumps(body)))
        assert status in (201, 409), (status, answer)


def compare(name: str, servers: dict[str, Server], spec_for: Any, duration: float, rounds: int) -> float:
    """Alternate off and on ``rounds`` times with ``spec_for(port, round)``; print and return the rate ratio."""
    best: dict[str, Sample] = {}
    for n in range(rounds):
        for mode in MODES:
            sample = measure(servers[mode], spec_for(servers[mode].port, n), duration)
            if mode not in best or sample.rate > best[mode].rate:
                best[mode] = sample
    ratio = best["off"].rate / best["on"].rate
    print(f"{name}:")
    for mode in MODES:
        print(f"    {mode:11} {best[mode].rate:8.0f} req/s   {best[mode].cpu_us:7.0f} µs server CPU per request")
    cpu_ratio = best["on"].cpu_us / best["off"].cpu_us
    print(f"    cost ratio off/on {ratio:.2f}x by rate (target <= {TARGET}x), {cpu_ratio:.2f}x by server CPU")
    return ratio


def compare_paired(name: str, servers: dict[str, Server], spec_for: Any, duration: float, rounds: int) -> float:
    """Load every server at once for each of ``rounds`` (after one warm-up round); print and return the median of
    the rounds' CPU-per-request ratios on/off."""
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}

    def run(mode: str, n: int, samples: dict[str, Sample]) -> None:
        samples[mode] = measure(servers[mode], spec_for(servers[mode].port, n), duration)

    for n in range(rounds + 1):
        samples: dict[str, Sample] = {}
        threads = [threading.Thread(target=run, args=(mode, n, samples)) for mode in MODES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if n:
            for mode in MODES:
                cpu[mode].append(samples[mode].cpu_us)
    print(f"{name} (all four loaded at once, median of {rounds} rounds):")
    ratios: dict[str, float] = {}
    for mode in MODES:
        ratios[mode] = statistics.median(a / b for a, b in zip(cpu[mode], cpu["off"], strict=True))
        spread = " ".join(f"{a / b:.2f}" for a, b in zip(cpu[mode], cpu["off"], strict=True))
        median = statistics.median(cpu[mode])
        print(f"    {mode:11} {median:7.0f} µs server CPU per request   x{ratios[mode]:.2f} [{spread}]")
    print(f"    cost ratio on/off {ratios['on']:.2f}x by server CPU (target <= {TARGET}x)")
    return ratios["on"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    parser.add_argument("--paired", action="store_true", help="load all servers at once; judge by CPU per request")
    args = parser.parse_args()
    duration, rounds = (2.0, 1) if args.quick else (4.0, 3)
    if args.paired:
        duration, rounds = (2.0, 3) if args.quick else (2.0, 8)
    print(f"Pinnace security cost benchmark on {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="pinnace-auth-bench-") as tmp:
        base = Path(tmp)
        token = secrets.token_hex(16)
        (base / "tokens.csv").write_text(f'{token},bench-admin,bench-admin,"kubeadm:cluster-admins"\n')
        from pinnace.adm.pki import PKIConfig, create_pki

        create_pki(base, PKIConfig(node_name="bench"))  # once: both servers then only read it
        servers: dict[str, Server] = {}
        try:
            for mode in MODES:
                servers[mode] = start(base, mode)
            os.environ[api.PKI_ENV], os.environ[api.TOKEN_ENV] = str(base / "pki"), token
            for mode, server in servers.items():
                print(f"  {mode}: {server.what}")
                prepare(server.port)
            print(f"  TLS both, {CONNECTIONS} keep-alive connections, bearer token on every request")
            print()
            get_path = "/api/v1/namespaces/bench/configmaps/bench-get"

            def get(port: int, n: int) -> Any:
                return api.LoadSpec(port, CONNECTIONS, duration, get_path=get_path)

            def create(port: int, n: int) -> Any:
                return api.LoadSpec(port, CONNECTIONS, duration, create_namespace="bench", create_prefix=f"r{n}-")

            judge = compare_paired if args.paired else compare
            get_ratio = judge("GET configmap by name", servers, get, duration, rounds)
            create_ratio = judge("POST configmap (durable create)", servers, create, duration, rounds)
        finally:
            for server in servers.values():
                stop(server)
    ok = get_ratio <= TARGET and create_ratio <= TARGET
    print()
    print(f"{'PASS' if ok else 'FAIL'}: GET {get_ratio:.2f}x, create {create_ratio:.2f}x (target <= {TARGET}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
