"""``pinnace image`` end to end: build busybox offline, push to a docker-registry, pull it back, run it.

The registry speaks https (a CA of the test's, given with ``--ca-file``) and wants token auth.

The pulled image is unpacked and ``/bin/busybox echo hi`` runs from its rootfs
in a real runc container — proof the image came back whole.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.registry_server import RegistryServer

from pinnace.node.images.archive import export_oci_layout
from pinnace.node.images.reference import parse_reference
from pinnace.node.images.store import ImageStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry"), auth="token", tls=True) as server:
        yield server


def image(root: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``pinnace image ARGS --root ROOT``."""
    result = subprocess.run(
        [sys.executable, "-m", "pinnace", "image", *args, "--root", str(root)],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"pinnace image {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def run_in_runc(rootfs: Path, bundle: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a runc container made from a copy of ``rootfs`` (a minimal bundle from ``runc spec``)."""
    bundle.mkdir()
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(terminal=False, args=args)
    spec["root"] = {"path": "rootfs", "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    state = bundle / "state"
    name = f"pinnace-image-e2e-{uuid.uuid4().hex[:8]}"
    try:
        return subprocess.run(
            ["runc", "--root", str(state), "run", "--bundle", str(bundle), name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(["runc", "--root", str(state), "delete", "--force", name], capture_output=True, check=False)


def test_build_push_pull_and_run(registry: RegistryServer, tmp_path: Path) -> None:
    root = tmp_path / "images"
    ref = f"{registry.host}/tools/busybox:1"
    built = image(root, "build", "--from-binary", "/bin/busybox", "-t", ref).stdout.strip()
    assert built.startswith("sha256:")
    listing = image(root, "ls").stdout.splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"]
    assert listing[1].split()[:3] == [f"{registry.host}/tools/busybox", "1", built[7:19]]

    tls = ["--ca-file", str(registry.ca_file)]
    denied = image(root, "push", ref, *tls, check=False)
    assert denied.returncode == 1 and "unauthorized" in denied.stderr
    pushed = image(root, "push", ref, *tls, "--username", "alice", "--password-stdin", input="wonderland\n")
    digest = pushed.stdout.strip()
    assert digest.startswith("sha256:")
    assert registry.token_server is not None and registry.token_server.requests[-1]["user"] == "alice"

    assert image(root, "rm", ref).stdout.strip() == f"Deleted: {built}"
    assert image(root, "ls", "-q").stdout == ""
    assert list((root / "blobs" / "sha256").iterdir()) == []

    login = ["-u", "alice", "--password-stdin"]
    pulled = image(root, "pull", ref, *tls, *login, input="wonderland\n").stdout.strip()
    assert pulled == built
    inspected = json.loads(image(root, "inspect", ref).stdout)
    assert inspected["repo_digests"] == [f"{registry.host}/tools/busybox@{digest}"]
    assert inspected["config"]["config"]["Cmd"] == ["sh"]

    rootfs = Path(image(root, "unpack", ref).stdout.strip())
    assert (rootfs / "bin" / "busybox").is_file()
    run = run_in_runc(rootfs, tmp_path / "bundle", ["/bin/busybox", "echo", "hi"])
    assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
    assert not (rootfs / "proc").exists()  # the shared rootfs is untouched: runc worked on a copy


def test_import_and_errors(tmp_path: Path) -> None:
    root = tmp_path / "images"
    src = tmp_path / "app"
    src.mkdir()
    (src / "hello.txt").write_text("hello\n")
    built = image(
        root, "build", str(src), "-t", "example.com/app:1", "--cmd", '["cat", "/hello.txt"]', "--env", "A=1"
    ).stdout.strip()
    config = json.loads(image(root, "inspect", "example.com/app:1").stdout)["config"]["config"]
    assert config["Cmd"] == ["cat", "/hello.txt"] and "A=1" in config["Env"]
    layout = tmp_path / "layout"
    export_oci_layout(ImageStore(root), built, layout, parse_reference("example.com/app:1"))
    other = tmp_path / "other"
    assert image(other, "import", str(layout), "-t", "example.com/app:copy").stdout.strip() == built
    tags = sorted(json.loads(image(other, "inspect", built).stdout)["repo_tags"])
    assert tags == ["example.com/app:1", "example.com/app:copy"]

    missing = image(root, "inspect", "example.com/nope:1", check=False)
    assert missing.returncode == 1 and "not present" in missing.stderr
    bad = image(root, "build", "--from-binary", sys.executable, "-t", "x.io/py:1", check=False)
    assert bad.returncode == 1 and "statically linked" in bad.stderr
    unreachable = image(root, "pull", "127.0.0.1:1/nothing:1", check=False)
    assert unreachable.returncode == 1 and "cannot reach registry" in unreachable.stderr
