"""`pinnace builder`: a generated project's own tests pass right after init + create api."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def pinnace(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinnace", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_init_create_api_and_the_generated_tests_pass(tmp_path: Path) -> None:
    root = tmp_path / "memcached-operator"
    root.mkdir()
    init = pinnace("builder", "init", "--domain", "example.com", cwd=root)
    assert init.returncode == 0, init.stderr
    assert (root / "PROJECT").exists() and (root / "src" / "memcached_operator" / "main.py").exists()
    api = pinnace(
        "builder", "create", "api", "--group", "cache", "--version", "v1alpha1", "--kind", "Memcached", cwd=root
    )
    assert api.returncode == 0, api.stderr
    crd = yaml.safe_load((root / "config" / "crd" / "cache.example.com_memcacheds.yaml").read_text())
    assert crd["metadata"]["name"] == "memcacheds.cache.example.com"
    project = yaml.safe_load((root / "PROJECT").read_text())
    assert project["resources"] == [{"group": "cache.example.com", "version": "v1alpha1", "kind": "Memcached"}]

    # The generated project's tests, run as its author would (pythonpath from its pyproject).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout

    # A second kind in the same group/version shares the module; generate is idempotent.
    again = pinnace("builder", "create", "api", "--group", "cache", "--version", "v1alpha1", "--kind", "Pool", cwd=root)
    assert again.returncode == 0, again.stderr
    gen = pinnace("builder", "generate", cwd=root)
    assert gen.returncode == 0, gen.stderr
    assert sorted(p.name for p in (root / "config" / "crd").glob("*.yaml")) == [
        "cache.example.com_memcacheds.yaml",
        "cache.example.com_pools.yaml",
    ]


def test_bad_input_is_refused_clearly(tmp_path: Path) -> None:
    bad = pinnace("builder", "init", "--domain", "Not_A_Domain", cwd=tmp_path)
    assert bad.returncode == 1 and "must be a DNS subdomain" in bad.stderr
    no_project = pinnace("builder", "create", "api", "--group", "g", "--version", "v1", "--kind", "K", cwd=tmp_path)
    assert no_project.returncode == 1 and "run `pinnace builder init` first" in no_project.stderr
    assert pinnace("builder", "init", "--domain", "example.com", "--repo", "op", cwd=tmp_path).returncode == 0
    twice = pinnace("builder", "init", "--domain", "example.com", "--repo", "op", cwd=tmp_path)
    assert twice.returncode == 1 and "already" in twice.stderr
    kind = pinnace("builder", "create", "api", "--group", "g", "--version", "v1", "--kind", "lower", cwd=tmp_path)
    assert kind.returncode == 1 and "must be CamelCase" in kind.stderr


def test_install_and_run_reconcile_against_pinnace_up(tmp_path: Path) -> None:
    import signal
    import time

    from tests.e2e.conftest import start_cluster, stop_cluster

    cluster = start_cluster(tmp_path / "data", tmp_path / "home")
    root = tmp_path / "op"
    root.mkdir()
    kubeconfig = str(cluster.kubeconfig)
    try:
        assert pinnace("builder", "init", "--domain", "example.com", cwd=root).returncode == 0
        kind = ("--group", "cache", "--version", "v1alpha1", "--kind", "Memcached")
        assert pinnace("builder", "create", "api", *kind, cwd=root).returncode == 0
        installed = pinnace("builder", "install", "--kubeconfig", kubeconfig, cwd=root)
        assert installed.returncode == 0, installed.stderr
        assert "memcacheds.cache.example.com installed" in installed.stdout
        cluster.kubectl("wait", "--for=condition=Established", "crd/memcacheds.cache.example.com", "--timeout=20s")

        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pinnace",
                "builder",
                "run",
                "--kubeconfig",
                kubeconfig,
                "--health-probe-bind-address",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "127.0.0.1:0",
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            sample = (
                "apiVersion: cache.example.com/v1alpha1\nkind: Memcached\nmetadata: {name: sample}\nspec: {foo: bar}\n"
            )
            cluster.kubectl("apply", "-f", "-", input=sample)
            deadline = time.monotonic() + 30
            status = ""
            while time.monotonic() < deadline:
                status = cluster.kubectl(
                    "get", "memcached", "sample", "-o", "jsonpath={.status.conditions[?(@.type=='Available')].status}"
                ).stdout
                if status == "True":
                    break
                assert run.poll() is None, run.communicate()[0].decode(errors="replace")
                time.sleep(0.2)
            assert status == "True", "the operator did not reconcile the object"
        finally:
            run.send_signal(signal.SIGTERM)
            out = run.communicate(timeout=30)[0].decode(errors="replace")
        assert run.returncode == 0, out

        removed = pinnace("builder", "uninstall", "--kubeconfig", kubeconfig, cwd=root)
        assert removed.returncode == 0 and "deleted" in removed.stdout
    finally:
        stop_cluster(cluster)
