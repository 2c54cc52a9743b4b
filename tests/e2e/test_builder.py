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
