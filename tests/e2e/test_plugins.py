"""The plugin manager and Pinnace's kubectl plugins, through the real kubectl's plugin mechanism.

From a local index directory (built by ``pinnace.plugins.publish``): ``pinnace
plugin install pkg`` bootstraps the manager, ``kubectl pkg install`` the rest;
``kubectl plugin list`` finds them on PATH (the plugin root's ``bin/``); get-all,
ns, view-secret and pinnace do their jobs against ``pinnace up``; a newer index
version upgrades everything (the manager too); a tampered archive and one with
``../`` members are refused with nothing installed; an upgrade killed midway
leaves the old version running; uninstall removes them. One cluster, one test
per concern, the steps in order.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from tests.e2e.conftest import Cluster

from pinnace.plugins import archive, installer
from pinnace.plugins.manifest import load_manifest
from pinnace.plugins.publish import build_index
from pinnace.plugins.root import PluginRoot

pytestmark = pytest.mark.slow

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.toys.example.com}
spec:
  group: toys.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


class Env:
    """A plugin root, an index directory, and kubectl/pinnace runs that see them."""

    def __init__(self, cluster: Cluster, base: Path) -> None:
        self.cluster = cluster
        self.root = PluginRoot(base / "root")
        self.index = base / "index"
        self.kubeconfig = base / "kubeconfig"
        shutil.copy(cluster.kubeconfig, self.kubeconfig)
        self.env = {
            **cluster.env,
            "PINNACE_PLUGIN_ROOT": str(self.root.path),
            "PINNACE_PYTHON": sys.executable,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.root.bin}{os.pathsep}{cluster.env['PATH']}",
        }

    def run(self, *argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=60, input=input)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, check=check, input=input)

    def pinnace(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "pinnace", *args, check=check)

    def plugin_list(self) -> list[str]:
        out = self.kubectl("plugin", "list", check=False).stdout
        return sorted(Path(line).name for line in out.splitlines() if line.startswith("/"))


@pytest.fixture(scope="module")
def env(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Env:
    return Env(cluster, tmp_path_factory.mktemp("plugins"))


ALL = ["kubectl-get_all", "kubectl-ns", "kubectl-pinnace", "kubectl-pkg", "kubectl-view_secret"]


def test_install_from_a_local_index_and_kubectl_finds_them(env: Env) -> None:
    build_index(env.index, version="v0.1.0")
    assert "directory" in env.pinnace("plugin", "index", "add", "default", str(env.index)).stdout
    out = env.pinnace("plugin", "install", "pkg").stdout
    assert "Installed plugin: pkg v0.1.0" in out
    out = env.kubectl("pkg", "install", "ns", "get-all", "view-secret", "pinnace").stdout
    assert out.count("Installed plugin:") == 4 and "kubectl get-all" in out
    assert env.plugin_list() == ALL
    listed = env.kubectl("pkg", "list").stdout
    assert all(f"{name}" in listed for name in ("get-all", "ns", "pinnace", "pkg", "view-secret"))
    assert "v0.1.0" in env.kubectl("pkg", "info", "ns").stdout
    assert "view-secret" in env.kubectl("pkg", "search", "secret").stdout
    reinstall = subprocess.run(
        [sys.executable, "-m", "pinnace", "plugin", "install", "ns", "--force"],
        env={**env.env, "PATH": env.cluster.env["PATH"]},  # the plugin root's bin/ not on PATH: install says so
        capture_output=True,
        text=True,
        check=True,
    )
    assert f'export PATH="{env.root.bin}:$PATH"' in reinstall.stdout


def test_view_secret(env: Env) -> None:
    env.kubectl("create", "namespace", "vault")
    env.kubectl(
        "create", "secret", "generic", "db", "-n", "vault", "--from-literal=user=admin", "--from-literal=pw=s3cr3t"
    )
    assert env.kubectl("view-secret", "db", "pw", "-n", "vault").stdout == "s3cr3t"
    assert env.kubectl("view-secret", "-n", "vault", "db", "--all").stdout == "pw='s3cr3t'\nuser='admin'\n"
    missing_key = env.kubectl("view-secret", "db", "nope", "-n", "vault", check=False)
    assert missing_key.returncode == 1 and 'key "nope" not found in secret "db"' in missing_key.stderr
    missing = env.kubectl("view-secret", "ghost", "-n", "vault", check=False)
    assert missing.returncode == 1 and 'secret "ghost" not found in namespace "vault"' in missing.stderr
    several = env.kubectl("view-secret", "db", "-n", "vault", check=False)
    assert several.returncode == 1 and "--all" in several.stderr


def test_ns_lists_switches_and_goes_back(env: Env) -> None:
    env.kubectl("create", "namespace", "team-a")
    listed = env.kubectl("ns").stdout.splitlines()
    assert "* default" in listed and "  team-a" in listed
    assert 'Active namespace is "team-a"' in env.kubectl("ns", "team-a").stdout
    assert env.kubectl("config", "view", "--minify", "-o", "jsonpath={..namespace}").stdout == "team-a"
    assert "* team-a" in env.kubectl("ns").stdout.splitlines()
    env.kubectl("create", "configmap", "here", "--from-literal=a=b")  # lands in team-a now
    assert env.kubectl("get", "configmap", "here", "-n", "team-a", "-o", "name").stdout.strip() == "configmap/here"
    env.kubectl("ns", "-")
    assert env.kubectl("ns", "--current").stdout.strip() == "default"
    env.kubectl("ns", "-")
    assert env.kubectl("ns", "-c").stdout.strip() == "team-a"
    # --kubeconfig and --context reach the plugin: another file, another context, untouched by the above
    other = env.kubeconfig.with_name("other")
    doc = yaml.safe_load(env.kubeconfig.read_text())
    doc["contexts"][0]["context"]["namespace"] = "kube-system"
    other.write_text(yaml.safe_dump(doc))
    ctx = doc["contexts"][0]["name"]
    assert env.kubectl("ns", "-c", "--kubeconfig", str(other), "--context", ctx).stdout.strip() == "kube-system"
    bad = env.kubectl("ns", "no-such-ns", check=False)
    assert bad.returncode == 1 and 'namespace "no-such-ns" not found' in bad.stderr
    env.kubectl("ns", "default")


def test_get_all_discovers_resources(env: Env) -> None:
    env.kubectl("apply", "-f", "-", input=CRD)
    gadget = "apiVersion: toys.example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: team-a}\n"
    for _ in range(50):  # until the CRD is served
        if env.kubectl("apply", "-f", "-", input=gadget, check=False).returncode == 0:
            break
        time.sleep(0.1)
    env.kubectl("create", "secret", "generic", "s1", "-n", "team-a", "--from-literal=k=v")
    out = env.kubectl("get-all", "-n", "team-a").stdout
    assert "gadget.toys.example.com/g1" in out and "secret/s1" in out and "configmap/here" in out
    assert "vault" not in out
    everywhere = env.kubectl("get-all", "--all-namespaces").stdout
    assert "secret/db" in everywhere and "gadget.toys.example.com/g1" in everywhere
    assert "secret/s1" in env.kubectl("get-all", "-A", "--since", "1h").stdout
    assert "No resources found" in env.kubectl("get-all", "-n", "team-a", "--since", "0s").stderr
    with_ctx = env.kubectl("get-all", "--kubeconfig", str(env.kubeconfig), "-n", "vault").stdout
    assert "secret/db" in with_ctx


def test_kubectl_pinnace_runs_pinnace_commands(env: Env) -> None:
    out = env.kubectl("pinnace", "status", "--data-dir", str(env.cluster.data_dir)).stdout
    assert "Pinnace is running" in out and "ready" in out
    usage = env.kubectl("pinnace", "--help").stdout
    assert "kubectl pinnace" in usage and "plugin" in usage and "builder" in usage


def test_upgrade_to_a_newer_index_version_the_manager_too(env: Env) -> None:
    build_index(env.index, version="v0.2.0")
    out = env.kubectl("pkg", "upgrade").stdout
    assert out.count("Upgraded plugin:") == 5 and "pkg v0.2.0 (was v0.1.0)" in out
    assert "v0.1.0" not in env.kubectl("pkg", "list").stdout
    assert sorted(p.name for p in (env.root.store / "ns").iterdir()) == ["v0.2.0"]
    assert env.plugin_list() == ALL
    assert env.kubectl("view-secret", "db", "user", "-n", "vault").stdout == "admin"
    assert "Skipping ns: v0.2.0 is the newest" in env.kubectl("pkg", "upgrade", "ns").stdout


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(path: Path, name: str, sha: str) -> Path:
    doc = yaml.safe_load((Path(__file__).parents[2] / "plugins/index/plugins/ns.yaml").read_text())
    doc["metadata"]["name"] = name
    platform = doc["spec"]["platforms"][0]
    platform.update(sha256=sha, bin=f"kubectl-{name}", files=[{"from": f"kubectl-{name}", "to": "."}])
    path.write_text(yaml.safe_dump(doc))
    return path


def test_tampered_and_traversing_archives_are_refused(env: Env, tmp_path: Path) -> None:
    receipts = sorted(p.name for p in env.root.receipts.iterdir())
    script = b"#!/bin/sh\necho pwned\n"
    good = _archive(tmp_path / "evil.tar.gz", {"kubectl-evil": script})
    tampered = env.pinnace(
        "plugin",
        "install",
        "--manifest",
        str(_manifest(tmp_path / "a.yaml", "evil", "0" * 64)),
        "--archive",
        str(good),
        check=False,
    )
    assert tampered.returncode == 1 and "sha256 mismatch" in tampered.stderr
    bad = _archive(tmp_path / "bad.tar.gz", {"kubectl-evil": script, "../../../escaped": script})
    traversal = env.kubectl(
        "pkg",
        "install",
        "--manifest",
        str(_manifest(tmp_path / "b.yaml", "evil", archive.sha256_of(bad))),
        "--archive",
        str(bad),
        check=False,
    )
    assert traversal.returncode == 1 and "outside the plugin directory" in traversal.stderr
    assert sorted(p.name for p in env.root.receipts.iterdir()) == receipts
    assert not (env.root.store / "evil").exists() and not (env.root.bin / "kubectl-evil").exists()
    assert [p.name for p in env.root.store.iterdir() if p.name.startswith(".")] == []
    assert not any(p.name == "escaped" for p in tmp_path.parent.rglob("escaped"))
    assert "kubectl-evil" not in env.plugin_list()


def test_an_interrupted_upgrade_leaves_the_old_version_working(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    build_index(env.index, version="v0.3.0")
    newer = load_manifest(env.index / "plugins" / "ns.yaml")
    real_extract = archive.extract

    def killed_midway(src: Path, target: Path, *, uri: str = "") -> None:
        real_extract(src, target, uri=uri)
        (target / "kubectl-ns").write_text("#!/bin/sh\necho half-written >&2; exit 99\n")
        raise KeyboardInterrupt  # the process dies between unpacking and switching

    monkeypatch.setattr(archive, "extract", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        installer.upgrade(env.root, newer, index="default")
    assert env.kubectl("ns", "-c").stdout.strip() == "default"
    assert "v0.2.0" in env.kubectl("pkg", "info", "ns").stdout.split("INSTALLED:")[1].splitlines()[0]
    assert sorted(p.name for p in (env.root.store / "ns").iterdir()) == ["v0.2.0"]
    monkeypatch.undo()
    assert "ns v0.3.0 (was v0.2.0)" in env.kubectl("pkg", "upgrade", "ns").stdout
    assert env.kubectl("ns", "-c").stdout.strip() == "default"


def test_uninstall(env: Env) -> None:
    out = env.kubectl("pkg", "uninstall", "ns", "get-all", "view-secret").stdout
    assert out.count("Uninstalled plugin:") == 3
    assert env.plugin_list() == ["kubectl-pinnace", "kubectl-pkg"]
    gone = env.kubectl("ns", check=False)
    assert gone.returncode != 0
    env.kubectl("pkg", "uninstall", "pkg", "pinnace")
    assert env.plugin_list() == []
    assert "default" in env.pinnace("plugin", "index", "list").stdout
    env.pinnace("plugin", "index", "remove", "default")
    assert "default" not in env.pinnace("plugin", "index", "list").stdout
