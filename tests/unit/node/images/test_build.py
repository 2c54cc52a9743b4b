"""Images built offline: from a directory, and from the static busybox with its applets."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pinnace.node.images.build import BuildError, build_from_binary, build_from_directory, is_static_elf
from pinnace.node.images.config import ImageConfig, process_args
from pinnace.node.images.manifest import OCI_LAYER_GZIP, OCI_MANIFEST, parse_manifest
from pinnace.node.images.reference import parse_reference
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import unpack

BUSYBOX = Path("/bin/busybox")  # Debian busybox-static, which .ci/run installs


def test_from_directory(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    (src / "app" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(src / "app" / "run.sh", 0o755)
    os.symlink("run.sh", src / "app" / "start")
    store = ImageStore(tmp_path / "store")
    config = ImageConfig(entrypoint=("/app/run.sh",), env=("A=1",), working_dir="/app", exposed_ports=("80/tcp",))
    image_id = build_from_directory(store, src, config, [parse_reference("example.com/app:1")])
    record = store.require("example.com/app:1")
    assert record.id == image_id
    manifest = parse_manifest(store.read_blob(record.manifest))
    assert manifest.media_type == OCI_MANIFEST
    assert [layer.media_type for layer in manifest.layers] == [OCI_LAYER_GZIP]
    doc = store.config(image_id)
    assert doc["os"] == "linux" and doc["rootfs"]["type"] == "layers" and len(doc["rootfs"]["diff_ids"]) == 1
    built = ImageConfig.from_document(doc)
    assert built.env_map()["A"] == "1" and "PATH" in built.env_map()
    assert (built.entrypoint, built.working_dir, built.exposed_ports) == (("/app/run.sh",), "/app", ("80/tcp",))
    root = unpack(store, image_id)
    assert stat.S_IMODE(os.stat(root / "app/run.sh").st_mode) == 0o755
    assert os.readlink(root / "app/start") == "run.sh"
    assert os.stat(root / "app/run.sh").st_uid == (0 if os.geteuid() == 0 else os.geteuid())


def test_the_pod_command_meets_the_image_config() -> None:
    image = ImageConfig(entrypoint=("/entry",), cmd=("--default",))
    assert process_args(image, (), ()) == ["/entry", "--default"]
    assert process_args(image, (), ("--mine",)) == ["/entry", "--mine"]
    assert process_args(image, ("/bin/sh",), ()) == ["/bin/sh"]  # a command drops the image's Cmd
    assert process_args(image, ("/bin/sh",), ("-c", "x")) == ["/bin/sh", "-c", "x"]


def test_from_static_busybox(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image_id = build_from_binary(store, BUSYBOX, ImageConfig(), [parse_reference("localhost/busybox:1")])
    assert ImageConfig.from_document(store.config(image_id)).cmd == ("sh",)
    root = unpack(store, image_id)
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:")
    assert "nobody:x:65534:" in (root / "etc/group").read_text()
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in ("ls", "cat", "wget", "nc"):
        if applet in applets:
            assert any((root / d / applet).is_symlink() for d in ("bin", "sbin", "usr/bin", "usr/sbin"))
    if os.geteuid() == 0 and shutil.which("chroot"):
        out = subprocess.run(["chroot", str(root), "/bin/sh", "-c", "echo hi from $(whoami)"], capture_output=True)
        assert out.stdout == b"hi from root\n"


def test_a_dynamic_binary_is_refused(tmp_path: Path) -> None:
    dynamic = Path(shutil.which("python3") or "/usr/bin/python3").resolve()
    assert not is_static_elf(dynamic)
    with pytest.raises(BuildError, match="statically linked"):
        build_from_binary(ImageStore(tmp_path), dynamic, ImageConfig(), [])
    with pytest.raises(BuildError, match="not a directory"):
        build_from_directory(ImageStore(tmp_path), tmp_path / "nope", ImageConfig(), [])
