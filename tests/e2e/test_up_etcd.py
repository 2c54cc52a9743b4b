"""``pinnace up --store etcd://…``: the cluster keeps its objects in a real etcd (Debian's etcd-server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import free_port, run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually, get_json

from pinnace.cluster.etcd_member import EtcdMemberSpec, member_env

pytestmark = pytest.mark.slow


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[str]:
    """A one-member etcd on loopback; yields its ``host:port``."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not on the PATH: .ci/run installs the Debian package etcd-server")
    client, peer = free_port(), free_port()
    spec = EtcdMemberSpec(
        name="m0",
        data_dir=tmp_path / "etcd",
        client_url=f"http://127.0.0.1:{client}",
        peer_url=f"http://127.0.0.1:{peer}",
    )
    log = (tmp_path / "etcd.log").open("wb")
    proc = subprocess.Popen(spec.command(), stdout=log, stderr=subprocess.STDOUT, env=member_env())
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as resp:
                    if b'"true"' in resp.read():
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("etcd did not become healthy:\n" + (tmp_path / "etcd.log").read_text())
            time.sleep(0.1)
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_cluster_on_etcd_keeps_its_objects_there(tmp_path: Path, etcd: str) -> None:
    args = ["--store", f"etcd://{etcd}", "--controllers", "namespace"]
    first = start_cluster(tmp_path / "one", tmp_path / "home", extra_args=args)
    try:
        # On a store several API servers may share, the controller manager elects a leader.
        eventually(
            lambda: (
                first.kubectl("get", "lease", "kube-controller-manager", "-n", "kube-system", check=False).returncode
                == 0
            ),
            timeout=30,
        )
        first.kubectl("create", "namespace", "on-etcd")
        first.kubectl("create", "configmap", "kept", "-n", "on-etcd", "--from-literal=k=v")
        created = get_json(first, "configmap", "kept", "-n", "on-etcd")
    finally:
        printed = stop_cluster(first)
    assert f"Objects are kept in etcd at {etcd}." in printed
    assert not (tmp_path / "one" / "store.db").exists()

    # Another cluster with a fresh data directory on the same etcd sees the same objects.
    second = start_cluster(tmp_path / "two", tmp_path / "home", extra_args=args)
    try:
        again = get_json(second, "configmap", "kept", "-n", "on-etcd")
        assert again["metadata"]["uid"] == created["metadata"]["uid"] and again["data"] == {"k": "v"}
        assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        second.kubectl("delete", "namespace", "on-etcd", "--timeout=30s")  # the namespace controller finalizes it
        assert "on-etcd" not in second.kubectl("get", "namespaces", "-o", "name").stdout
    finally:
        stop_cluster(second)


def test_a_bad_store_url_is_refused(tmp_path: Path) -> None:
    result = run_pinnace("up", "--data-dir", str(tmp_path), "--store", "etcd://nohost")
    assert result.returncode == 2
    assert "bad etcd endpoint 'nohost'" in result.stderr


def test_two_api_servers_on_one_etcd_agree(tmp_path: Path, etcd: str) -> None:
    store = ["--store", f"etcd://{etcd}"]
    a = start_cluster(tmp_path / "a", tmp_path / "home-a", extra_args=[*store, "--controllers", "namespace"])
    b = start_cluster(tmp_path / "b", tmp_path / "home-b", extra_args=[*store, "--controllers", ""])
    try:
        a.kubectl("create", "namespace", "shared")
        for i in range(10):
            # Written through one server, read at once through the other: a GET is a consistent read.
            a.kubectl("create", "configmap", f"cm-{i}", "-n", "shared", f"--from-literal=i={i}")
            seen = get_json(b, "configmap", f"cm-{i}", "-n", "shared")
            assert seen["data"] == {"i": str(i)}
            assert (
                seen["metadata"]["resourceVersion"]
                == get_json(a, "configmap", f"cm-{i}", "-n", "shared")["metadata"]["resourceVersion"]
            )
        listed = get_json(b, "configmaps", "-n", "shared")["items"]
        assert sorted(cm["metadata"]["name"] for cm in listed) == sorted(f"cm-{i}" for i in range(10))

        # Optimistic concurrency holds across servers: B updates A's object; A's stale copy then conflicts.
        stale = get_json(a, "configmap", "cm-0", "-n", "shared")
        b.kubectl("patch", "configmap", "cm-0", "-n", "shared", "-p", '{"data":{"i":"changed"}}')
        stale["data"] = {"i": "lost"}
        refused = a.kubectl("replace", "-f", "-", input=json.dumps(stale), check=False)
        assert refused.returncode != 0 and "the object has been modified" in refused.stderr
        assert get_json(a, "configmap", "cm-0", "-n", "shared")["data"] == {"i": "changed"}
    finally:
        stop_cluster(b)
        stop_cluster(a)


def test_a_sqlite_cluster_migrates_to_etcd_and_comes_back_with_every_object(tmp_path: Path, etcd: str) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    cluster = start_cluster(data, home, extra_args=["--controllers", "namespace"])
    try:
        cluster.kubectl("create", "namespace", "moving")
        for i in range(30):
            cluster.kubectl("create", "configmap", f"cm-{i}", "-n", "moving", f"--from-literal=i={i}")
        cluster.kubectl("create", "secret", "generic", "s", "-n", "moving", "--from-literal=p=w")
        before = {o["metadata"]["name"]: o for o in get_json(cluster, "configmaps,secrets", "-n", "moving")["items"]}
        refused = run_pinnace("adm", "migrate-store", "--data-dir", str(data), "--to", f"etcd://{etcd}")
        assert refused.returncode == 1 and "run `pinnace down` first" in refused.stderr
    finally:
        stop_cluster(cluster)

    moved = run_pinnace("adm", "migrate-store", "--data-dir", str(data), "--to", f"etcd://{etcd}")
    assert moved.returncode == 0, moved.stderr
    assert "Copied" in moved.stdout and "(0 were already there)" in moved.stdout
    again = run_pinnace("adm", "migrate-store", "--data-dir", str(data), "--to", f"etcd://{etcd}")
    assert again.returncode == 0 and "Copied 0 objects" in again.stdout  # a second run changes nothing

    (data / "store.db").rename(data / "store.db.migrated")  # the cluster must now live on etcd alone
    cluster = start_cluster(data, home, port=cluster.port, extra_args=["--store", f"etcd://{etcd}"])
    try:
        after = {o["metadata"]["name"]: o for o in get_json(cluster, "configmaps,secrets", "-n", "moving")["items"]}
        assert set(after) == set(before)
        for name, obj in before.items():
            assert after[name]["metadata"]["uid"] == obj["metadata"]["uid"]
            assert after[name].get("data") == obj.get("data")
        cluster.kubectl("create", "configmap", "new-on-etcd", "-n", "moving")  # and it carries on
    finally:
        stop_cluster(cluster)


def test_kubectl_through_the_load_balancer_carries_on_when_an_api_server_dies(tmp_path: Path, etcd: str) -> None:
    store = ["--store", f"etcd://{etcd}"]
    a = start_cluster(tmp_path / "a", tmp_path / "home-a", extra_args=[*store, "--controllers", "namespace"])
    # Control-plane members share the cluster's PKI (kubeadm copies it, or uploads it for join --control-plane):
    # one CA, one serving certificate, one service-account key, so any member serves any client.
    shutil.copytree(tmp_path / "a" / "pki", tmp_path / "b" / "pki")
    b = start_cluster(tmp_path / "b", tmp_path / "home-b", extra_args=[*store, "--controllers", ""])
    lb_port = free_port()
    lb = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinnace",
            "lb",
            "--listen",
            f"127.0.0.1:{lb_port}",
            "--backend",
            f"127.0.0.1:{a.port}",
            "--backend",
            f"127.0.0.1:{b.port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "lb.log").open("wb"),
    )
    kubeconfig = tmp_path / "lb.kubeconfig"
    kubeconfig.write_text(a.kubeconfig.read_text().replace(f":{a.port}", f":{lb_port}"))

    def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True)
        assert not check or done.returncode == 0, done.stderr
        return done

    try:
        eventually(lambda: kubectl("get", "namespaces", check=False).returncode == 0, timeout=20)
        kubectl("create", "namespace", "ha")
        for i in range(4):  # round-robin: both servers answer
            kubectl("create", "configmap", f"before-{i}", "-n", "ha")
        a.proc.kill()  # kill -9 one API server
        a.proc.wait()
        for i in range(6):  # every new connection goes to the one that answers
            kubectl("create", "configmap", f"after-{i}", "-n", "ha")
        names = kubectl("get", "configmaps", "-n", "ha", "-o", "name").stdout.split()
        expected = {f"configmap/before-{i}" for i in range(4)} | {f"configmap/after-{i}" for i in range(6)}
        assert expected <= set(names)
    finally:
        lb.terminate()
        lb.wait(10)
        stop_cluster(b)
        stop_cluster(a)


async def test_kill_9_of_one_of_two_api_servers_under_write_load_loses_no_acknowledged_write(
    tmp_path: Path, etcd: str
) -> None:
    """Issue 9: a writer records every create either server acknowledged; one server is killed (-9) meanwhile.

    The writer alternates between the servers and carries on through the survivor once one stops
    answering (clients that accept several endpoints); afterwards every acknowledged object is there
    with its content, and a watcher on the survivor saw every acknowledged create, in order, once.
    """
    import asyncio

    import aiohttp

    from pinnace.api import errors
    from pinnace.client.config import load_client_config
    from pinnace.client.rest import ResourceRef

    configmaps = ResourceRef("", "v1", "configmaps")
    store = ["--store", f"etcd://{etcd}"]
    a = start_cluster(tmp_path / "a", tmp_path / "home-a", extra_args=[*store, "--controllers", "namespace"])
    shutil.copytree(tmp_path / "a" / "pki", tmp_path / "b" / "pki")  # one PKI for the control plane
    b = start_cluster(tmp_path / "b", tmp_path / "home-b", extra_args=[*store, "--controllers", ""])
    clients = []
    for server in (a, b):
        config = tmp_path / f"{server.port}.kubeconfig"
        config.write_text(a.kubeconfig.read_text().replace(f":{a.port}", f":{server.port}"))
        clients.append(load_client_config(config).rest_client(timeout=5))
    acked: list[tuple[str, str, int]] = []
    seen: list[tuple[str, str, int]] = []
    try:
        await clients[1].create(ResourceRef("", "v1", "namespaces", namespaced=False), {"metadata": {"name": "load"}})
        start_rv = (await clients[1].list(configmaps, "load"))["metadata"]["resourceVersion"]

        async def watch() -> None:
            async for event in clients[1].watch(configmaps, "load", resource_version=start_rv):
                if event.type == "ADDED":
                    meta = event.object["metadata"]
                    seen.append((meta["name"], event.object["data"]["i"], int(meta["resourceVersion"])))

        watcher = asyncio.create_task(watch())
        alive = [0, 1]
        failures: list[str] = []

        async def write(count: int) -> None:
            for i in range(len(acked) + len(failures), len(acked) + len(failures) + count):
                target = alive[i % len(alive)]
                name = f"cm-{i:05d}"
                try:
                    made = await clients[target].create(
                        configmaps, {"metadata": {"name": name}, "data": {"i": str(i)}}, "load"
                    )
                except (aiohttp.ClientError, OSError, TimeoutError, errors.StatusError) as exc:  # not acknowledged
                    failures.append(f"{name}: {exc!r}")
                    if target in alive and len(alive) > 1 and not isinstance(exc, errors.StatusError):
                        alive.remove(target)  # that server is gone: carry on through the other
                    continue
                acked.append((name, str(i), int(made["metadata"]["resourceVersion"])))

        await write(150)
        a.proc.kill()  # kill -9 one API server in the middle of the load
        a.proc.wait()
        await write(150)
        assert alive == [1] and len(acked) >= 290, failures

        stored = {
            cm["metadata"]["name"]: cm["data"]["i"] for cm in (await clients[1].list(configmaps, "load"))["items"]
        }
        for name, value, _ in acked:
            assert stored.get(name) == value
        last = acked[-1][2]
        for _ in range(200):
            if seen and seen[-1][2] >= last:
                break
            await asyncio.sleep(0.05)
        revisions = [rv for *_, rv in seen]
        assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
        assert [x for x in seen if x in set(acked)] == sorted(acked, key=lambda x: x[2])
        watcher.cancel()
    finally:
        for client in clients:
            await client.close()
        stop_cluster(b)
        stop_cluster(a)
