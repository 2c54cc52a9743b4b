"""The OCI config.json of a container: Kubernetes' command/args rules, env, user, capabilities, limits."""

from __future__ import annotations

import os

import pytest

from pinnace.node.cri import ContainerConfig, Mount, Resources, RuntimeFailure, SecurityContext
from pinnace.node.images.config import ImageConfig
from pinnace.node.oci.spec import (
    DEFAULT_CAPABILITIES,
    SandboxPaths,
    build_spec,
    capabilities,
    cpu_shares,
    merge_env,
    process_args,
    resolve_user,
)

IMAGE = ImageConfig(entrypoint=("/entry",), cmd=("default", "cmd"), env=("PATH=/bin", "A=image"), user="")
SANDBOX = SandboxPaths(
    hostname="web-0",
    netns_path="/run/netns/pod",
    hosts_file="/s/hosts",
    resolv_file="/s/resolv.conf",
    hostname_file="/s/hostname",
    cgroup_parent="pinnace/podabc",
)


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ((), (), ["/entry", "default", "cmd"]),
        (("/bin/sh",), (), ["/bin/sh"]),
        ((), ("x", "y"), ["/entry", "x", "y"]),
        (("/bin/sh", "-c"), ("echo hi",), ["/bin/sh", "-c", "echo hi"]),
    ],
)
def test_process_args_follow_kubernetes_command_and_args_rules(
    command: tuple[str, ...], args: tuple[str, ...], expected: list[str]
) -> None:
    assert process_args(IMAGE, command, args) == expected


def test_no_command_anywhere_is_a_runtime_failure() -> None:
    with pytest.raises(RuntimeFailure, match="no command"):
        process_args(ImageConfig(), (), ())


def test_container_env_overrides_image_env_in_place() -> None:
    env = merge_env(("PATH=/bin", "A=image", "B=keep"), (("A", "pod"), ("C", "new")), "host")
    assert env == ["PATH=/bin", "A=pod", "B=keep", "HOSTNAME=host", "C=new"]
    assert merge_env((), (), "h")[0].startswith("PATH=/usr/local/sbin")


def test_user_from_image_names_numbers_and_security_context(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "passwd"), "w") as handle:
        handle.write("root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as handle:
        handle.write("root:x:0:\nstaff:x:50:\n")
    plain = ContainerConfig(name="c", image="i")
    assert resolve_user(plain, ImageConfig(user="web"), root) == {"uid": 1000, "gid": 1001}
    assert resolve_user(plain, ImageConfig(user="1000"), root) == {"uid": 1000, "gid": 1001}
    assert resolve_user(plain, ImageConfig(user="42:staff"), root) == {"uid": 42, "gid": 50}
    assert resolve_user(plain, ImageConfig(), root) == {"uid": 0, "gid": 0}
    overridden = ContainerConfig(name="c", image="i", security=SecurityContext(run_as_user=7, run_as_group=8))
    assert resolve_user(overridden, ImageConfig(user="web"), root) == {"uid": 7, "gid": 8}
    with pytest.raises(RuntimeFailure, match="unable to find user nobody"):
        resolve_user(plain, ImageConfig(user="nobody"), root)


def test_capabilities_default_add_drop_and_all() -> None:
    def caps(add: tuple[str, ...] = (), drop: tuple[str, ...] = (), privileged: bool = False) -> list[str]:
        security = SecurityContext(capabilities_add=add, capabilities_drop=drop, privileged=privileged)
        return capabilities(ContainerConfig(name="c", image="i", security=security))

    assert caps() == list(DEFAULT_CAPABILITIES)
    assert "CAP_NET_ADMIN" in caps(add=("NET_ADMIN",))
    assert "CAP_NET_RAW" not in caps(drop=("NET_RAW",))
    assert caps(drop=("ALL",), add=("NET_BIND_SERVICE",)) == ["CAP_NET_BIND_SERVICE"]
    assert "CAP_SYS_ADMIN" in caps(privileged=True)


def test_cpu_shares_as_the_kubelet_computes_them() -> None:
    assert cpu_shares(None, None) == 2
    assert cpu_shares(100, None) == 102
    assert cpu_shares(None, 500) == 512
    assert cpu_shares(1, None) == 2


def test_build_spec_namespaces_mounts_limits_and_security() -> None:
    config = ContainerConfig(
        name="c",
        image="i",
        args=("serve",),
        working_dir="/srv",
        env=(("A", "pod"),),
        mounts=(Mount("/data/sub", "/h/sub"), Mount("/data", "/h/data", readonly=True)),
        resources=Resources(cpu_millis_limit=250, cpu_millis_request=100, memory_limit_bytes=64 << 20),
        security=SecurityContext(read_only_root_filesystem=True, allow_privilege_escalation=False),
        tty=True,
    )
    spec = build_spec(config, IMAGE, container_id="cid", rootfs="/b/rootfs", sandbox=SANDBOX)
    process = spec["process"]
    assert process["args"] == ["/entry", "serve"]
    assert process["cwd"] == "/srv"
    assert process["terminal"] is True
    assert process["noNewPrivileges"] is True
    assert spec["root"] == {"path": "/b/rootfs", "readonly": True}
    assert spec["hostname"] == "web-0"
    namespaces = spec["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/netns/pod"} in namespaces
    assert {ns["type"] for ns in namespaces} == {"pid", "ipc", "mount", "network", "uts"}
    resources = spec["linux"]["resources"]
    assert resources["memory"]["limit"] == 64 << 20
    assert resources["cpu"] == {"shares": 102, "period": 100_000, "quota": 25_000}
    assert spec["linux"]["cgroupsPath"] == "/pinnace/podabc/cid"
    destinations = [m["destination"] for m in spec["mounts"]]
    for standard in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hosts",
                     "/etc/resolv.conf", "/etc/hostname"):  # fmt: skip
        assert standard in destinations
    assert destinations.index("/data") < destinations.index("/data/sub")
    data = next(m for m in spec["mounts"] if m["destination"] == "/data")
    assert "ro" in data["options"]
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]


def test_host_network_and_privileged_containers() -> None:
    host = SandboxPaths("node", "", "/s/hosts", "/s/resolv.conf", "/s/hostname", "pinnace/pod1")
    config = ContainerConfig(name="c", image="i", security=SecurityContext(privileged=True))
    spec = build_spec(config, IMAGE, container_id="cid", rootfs="/r", sandbox=host)
    assert {ns["type"] for ns in spec["linux"]["namespaces"]} == {"pid", "ipc", "mount"}
    assert "hostname" not in spec
    assert "maskedPaths" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "rw" in sys_mount["options"]
