"""``adm upgrade``: kubeadm's version skew policy, the plan's report and the configuration diff."""

from __future__ import annotations

import pytest

from pinnace.adm.config import ClusterConfiguration
from pinnace.adm.upgrade import ClusterVersions, SkewError, Version, check_versions, config_diff, plan_text

V = Version.parse
KUBEADM = V("v1.32.0")


def test_parse() -> None:
    assert V("1.32.4") == Version(1, 32, 4) and str(V("v1.31.0-rc.1")) == "v1.31.0"
    assert V("v1.31.9") < V("v1.32.0") < V("v1.32.1")
    with pytest.raises(ValueError, match="unable to parse version"):
        V("1.32")


def test_one_minor_at_a_time() -> None:
    ok = check_versions(V("v1.31.4"), V("v1.32.0"), kubeadm=KUBEADM)
    assert ok.mandatory == () and ok.skippable == ()
    ok.raise_for(force=False)
    too_far = check_versions(V("v1.30.2"), V("v1.32.0"), kubeadm=KUBEADM)
    assert too_far.mandatory == (
        'Specified version to upgrade to "v1.32.0" is too high; kubeadm can upgrade only 1 minor version at a time',
    )
    with pytest.raises(SkewError) as raised:
        too_far.raise_for(force=True)
    assert not raised.value.skippable


def test_never_past_kubeadms_minor() -> None:
    check = check_versions(V("v1.32.0"), V("v1.33.0"), kubeadm=KUBEADM)
    assert check.mandatory == (
        'Specified version to upgrade to "v1.33.0" is at least one minor release higher than the kubeadm minor '
        "release (33 > 32). Such an upgrade is not supported",
    )


def test_a_newer_patch_than_kubeadm_needs_force() -> None:
    check = check_versions(V("v1.32.0"), V("v1.32.3"), kubeadm=KUBEADM)
    assert check.mandatory == ()
    assert check.skippable == (
        'Specified version to upgrade to "v1.32.3" is higher than the kubeadm version "v1.32.0". '
        "Upgrade kubeadm first using the tool you used to install kubeadm",
    )
    with pytest.raises(SkewError) as raised:
        check.raise_for(force=False)
    assert raised.value.skippable
    check.raise_for(force=True)


def test_downgrades() -> None:
    one = check_versions(V("v1.32.0"), V("v1.31.5"), kubeadm=KUBEADM)
    assert one.mandatory == ()
    assert 'is lower than the cluster version "v1.32.0"' in one.skippable[-1]
    assert "can only be used to upgrade to Kubernetes version 1.32" in one.skippable[0]
    two = check_versions(V("v1.32.0"), V("v1.30.0"), kubeadm=KUBEADM)
    assert "kubeadm can downgrade only 1 minor version at a time" in two.mandatory[0]


def test_kubelets_too_old() -> None:
    check = check_versions(V("v1.31.0"), V("v1.32.0"), kubeadm=KUBEADM, kubelets=(V("v1.28.3"), V("v1.29.0")))
    assert check.skippable == ('Kubelet version "v1.28.3" is lower than kubeadm can support. Please upgrade kubelet',)


def test_plan_text() -> None:
    current = ClusterVersions(V("v1.31.4"), {"cp-1": V("v1.31.4")}, ("cp-1",))
    text = plan_text(current, KUBEADM)
    assert "[upgrade/versions] Cluster version: v1.31.4" in text
    assert "kube-apiserver            cp-1   v1.31.4   v1.32.0" in text
    assert "kubelet     cp-1   v1.31.4   v1.32.0" in text
    assert text.rstrip().endswith("pinnace adm upgrade apply v1.32.0")
    done = plan_text(ClusterVersions(KUBEADM, {"cp-1": KUBEADM}, ("cp-1",)), KUBEADM)
    assert done.endswith("Awesome, you're up-to-date! Enjoy!")


def test_config_diff() -> None:
    diff = config_diff(ClusterConfiguration(kubernetes_version="v1.31.4"), KUBEADM)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-kubernetesVersion: v1.31.4", "+kubernetesVersion: v1.32.0"]
    assert config_diff(ClusterConfiguration(), KUBEADM) == ""
