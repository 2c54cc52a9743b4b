"""kubeadm's configuration documents: defaults as kubeadm prints them, parsing, v1beta3 migration, images."""

from __future__ import annotations

import pytest
import yaml

from pinnace.adm.config import (
    API_VERSION,
    ClusterConfiguration,
    ConfigError,
    control_plane_images,
    dump_documents,
    init_defaults,
    join_defaults,
    load_documents,
    migrate_documents,
    parse_config,
)


def test_init_defaults_are_kubeadms() -> None:
    init, cluster = init_defaults()
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert init["kind"] == "InitConfiguration" and cluster["kind"] == "ClusterConfiguration"
    assert init["bootstrapTokens"] == [
        {
            "groups": ["system:bootstrappers:kubeadm:default-node-token"],
            "token": "abcdef.0123456789abcdef",
            "ttl": "24h0m0s",
            "usages": ["signing", "authentication"],
        }
    ]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "1.2.3.4", "bindPort": 6443}
    assert init["nodeRegistration"]["name"] == "node" and init["nodeRegistration"]["taints"] is None
    assert init["timeouts"]["controlPlaneComponentHealthCheck"] == "4m0s"
    assert init["timeouts"]["discovery"] == "5m0s"
    assert cluster["networking"] == {"dnsDomain": "cluster.local", "serviceSubnet": "10.96.0.0/12"}
    assert cluster["kubernetesVersion"] == "v1.32.0"
    assert cluster["certificateValidityPeriod"] == "8760h0m0s"
    assert cluster["caCertificateValidityPeriod"] == "87600h0m0s"
    assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}
    text = dump_documents([init, cluster])
    assert text.index("apiVersion") < text.index("bootstrapTokens") or text.startswith("apiVersion")
    assert "\n---\n" in text


def test_join_defaults() -> None:
    (join,) = join_defaults()
    assert join["kind"] == "JoinConfiguration" and join["apiVersion"] == API_VERSION
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "kube-apiserver:6443"
    assert join["discovery"]["tlsBootstrapToken"] == "abcdef.0123456789abcdef"
    assert join["caCertPath"] == "/etc/kubernetes/pki/ca.crt"


def test_parse_config_reads_the_fields_and_keeps_the_rest() -> None:
    text = """
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: abcdef.0123456789abcdef
  ttl: 1h0m0s
localAPIEndpoint: {advertiseAddress: 127.0.0.5, bindPort: 7443}
nodeRegistration: {name: CP-A, taints: [], criSocket: unix:///x.sock}
skipPhases: [mark-control-plane]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: 1.32.1
controlPlaneEndpoint: cp.example:7443
networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.100.0.0/16}
apiServer: {certSANs: [cp.example], extraArgs: [{name: v, value: "2"}]}
dns: {imageTag: v1.11.3}
"""
    init, cluster = parse_config(load_documents(text))
    assert init.advertise_address == "127.0.0.5" and init.bind_port == 7443
    assert init.node_name == "CP-A" and init.taints == [] and init.control_plane_taints() == []
    assert init.skip_phases == ("mark-control-plane",)
    assert init.bootstrap_tokens[0]["ttl"] == "1h0m0s"
    assert cluster.kubernetes_version == "v1.32.1"
    assert cluster.control_plane_endpoint == "cp.example:7443"
    assert (cluster.pod_subnet, cluster.service_subnet) == ("10.244.0.0/16", "10.100.0.0/16")
    assert cluster.cert_sans == ("cp.example",)
    doc = cluster.to_document()
    assert doc["apiServer"] == {"certSANs": ["cp.example"], "extraArgs": [{"name": "v", "value": "2"}]}
    assert doc["dns"] == {"imageTag": "v1.11.3"}
    assert ClusterConfiguration.from_document(doc).to_document() == doc
    assert init.to_document()["nodeRegistration"]["criSocket"] == "unix:///x.sock"


def test_default_taint_is_the_control_plane_one() -> None:
    init, _ = parse_config([])
    assert init.control_plane_taints() == [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "Bogus"}, 'no kind "Bogus" is registered'),
        ({"apiVersion": "kubeadm.k8s.io/v1beta1", "kind": "InitConfiguration"}, 'for version "kubeadm.k8s.io/v1beta1"'),
        ({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration"}, "JoinConfiguration is for `adm join`"),
    ],
)
def test_refused_documents(doc: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config([doc])


def test_not_yaml_mappings_are_refused() -> None:
    with pytest.raises(ConfigError):
        load_documents("- a\n- b\n")
    with pytest.raises(ConfigError):
        load_documents("a: [")


def test_migrate_from_v1beta3() -> None:
    old = """
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  timeoutForControlPlane: 2m0s
  extraArgs: {v: "4", audit-log-path: /x}
etcd: {local: {dataDir: /var/lib/etcd, extraArgs: {quota-backend-bytes: "1"}}}
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
discovery: {timeout: 3m0s, bootstrapToken: {token: abcdef.0123456789abcdef, apiServerEndpoint: "x:6443"}}
nodeRegistration: {kubeletExtraArgs: {node-ip: 10.0.0.2}}
"""
    out = migrate_documents(load_documents(old))
    kinds = [d["kind"] for d in out]
    assert kinds == ["InitConfiguration", "ClusterConfiguration", "JoinConfiguration"]
    assert all(d["apiVersion"] == API_VERSION for d in out)
    init, cluster, join = out
    assert cluster["apiServer"] == {
        "extraArgs": [{"name": "audit-log-path", "value": "/x"}, {"name": "v", "value": "4"}]
    }
    assert cluster["etcd"]["local"]["extraArgs"] == [{"name": "quota-backend-bytes", "value": "1"}]
    assert init["timeouts"]["controlPlaneComponentHealthCheck"] == "2m0s"
    assert join["timeouts"]["discovery"] == "3m0s" and "timeout" not in join["discovery"]
    assert join["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.0.2"}]
    assert join["nodeRegistration"]["criSocket"]  # defaulted
    # Migrating again changes nothing.
    assert migrate_documents(yaml.safe_load_all(dump_documents(out))) == out


def test_control_plane_images() -> None:
    images = control_plane_images(ClusterConfiguration())
    assert images == [
        "registry.k8s.io/kube-apiserver:v1.32.0",
        "registry.k8s.io/kube-controller-manager:v1.32.0",
        "registry.k8s.io/kube-scheduler:v1.32.0",
        "registry.k8s.io/kube-proxy:v1.32.0",
        "registry.k8s.io/coredns/coredns:v1.11.3",
        "registry.k8s.io/pause:3.10",
        "registry.k8s.io/etcd:3.5.16-0",
    ]
    custom = ClusterConfiguration(image_repository="127.0.0.1:5000/k8s", extra={"etcd": {"external": {}}})
    assert control_plane_images(custom)[4] == "127.0.0.1:5000/k8s/coredns:v1.11.3"
    assert not any("etcd" in image for image in control_plane_images(custom))
