"""The Pod Security Standards checks: upstream's reasons, details and order, level by level."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.apiserver.admission.podsecurity import checks
from pinnace.apiserver.admission.podsecurity.plugin import LevelVersion, _existing_pod_warnings, policy_of

LATEST = checks.LATEST


def spec(*containers: dict[str, Any], **pod: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "busybox", **c} for c in containers] or [{"name": "c"}], **pod}


def baseline(s: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    return checks.describe(checks.evaluate("baseline", LATEST, meta or {}, s))


def restricted(s: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    return checks.describe(checks.evaluate("restricted", LATEST, meta or {}, s))


HARDENED = {
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
}


def test_privileged_allows_anything() -> None:
    assert checks.evaluate("privileged", LATEST, {}, spec({"securityContext": {"privileged": True}})) == []


def test_a_plain_pod_passes_baseline() -> None:
    assert baseline(spec({})) == ""


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        (
            spec(hostNetwork=True, hostPID=True, hostIPC=True),
            "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)",
        ),
        (
            spec({"securityContext": {"privileged": True}}),
            'privileged (container "c" must not set securityContext.privileged=true)',
        ),
        (
            spec({"securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN", "SYS_TIME"]}}}),
            'non-default capabilities (container "c" must not include "NET_ADMIN", "SYS_TIME" in '
            "securityContext.capabilities.add)",
        ),
        (spec(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), 'hostPath volumes (volume "h")'),
        (
            spec({"ports": [{"containerPort": 80, "hostPort": 8080}]}),
            'hostPort (container "c" uses hostPort 8080)',
        ),
        (
            spec({"securityContext": {"procMount": "Unmasked"}}),
            'procMount (container "c" must not set securityContext.procMount to "Unmasked")',
        ),
        (
            spec(securityContext={"seLinuxOptions": {"type": "spc_t", "user": "u"}}),
            'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)',
        ),
        (
            spec({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
            'seccompProfile (container "c" must not set securityContext.seccompProfile.type to "Unconfined")',
        ),
        (
            spec(
                securityContext={
                    "sysctls": [
                        {"name": "kernel.msgmax", "value": "1"},
                        {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                    ]
                }
            ),
            "forbidden sysctls (kernel.msgmax)",
        ),
        (
            spec(securityContext={"windowsOptions": {"hostProcess": True}}),
            "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)",
        ),
    ],
)
def test_baseline_checks(pod: dict[str, Any], message: str) -> None:
    assert baseline(pod) == message


def test_apparmor_annotation_unconfined_is_forbidden() -> None:
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}}
    assert baseline(spec({}), meta) == (
        'forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/c="unconfined")'
    )


def test_baseline_violations_come_in_check_id_order() -> None:
    pod = spec({"securityContext": {"privileged": True}, "ports": [{"hostPort": 1}]}, hostNetwork=True)
    assert baseline(pod) == (
        'host namespaces (hostNetwork=true), hostPort (container "c" uses hostPort 1), '
        'privileged (container "c" must not set securityContext.privileged=true)'
    )


def test_restricted_needs_the_hardened_context() -> None:
    assert restricted(spec(HARDENED)) == ""
    assert restricted(spec({})) == (
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost")'
    )


def test_restricted_accepts_pod_level_settings_and_net_bind_service() -> None:
    container = {
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        }
    }
    pod = spec(container, securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "Localhost"}})
    assert restricted(pod) == ""


def test_restricted_specific_failures() -> None:
    hardened = HARDENED["securityContext"]
    pod = spec(
        {"securityContext": {**hardened, "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}},
        volumes=[{"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {"server": "x", "path": "/"}}],
    )
    assert restricted(pod) == (
        'unrestricted capabilities (container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add), '
        'restricted volume types (volumes ["h" "n"] have restricted types), '
        'runAsUser=0 (container "c" must not set runAsUser=0)'
    )


def test_older_versions_skip_newer_checks() -> None:
    pod = spec(
        {
            **HARDENED["securityContext"],
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 0,
                "seccompProfile": {"type": "RuntimeDefault"},
                "allowPrivilegeEscalation": False,
            },
        }
    )
    at_122 = checks.describe(checks.evaluate("restricted", (1, 22), {}, pod))
    assert "runAsUser" not in at_122 and "unrestricted capabilities" in at_122
    assert checks.parse_version("v1.40") == LATEST
    assert checks.parse_version("v1.22") == (1, 22)
    assert checks.parse_version("1.22") is None


def test_policy_labels_and_their_errors() -> None:
    ns = {
        "metadata": {
            "labels": {
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/enforce-version": "v1.30",
                "pod-security.kubernetes.io/warn": "loose",
            }
        }
    }
    policy, causes = policy_of(ns)
    assert str(policy.enforce) == "baseline:v1.30" and policy.enforce.version == (1, 30)
    assert str(policy.warn) == "restricted:latest"  # an unknown level fails closed
    assert str(policy.audit) == "privileged:latest"
    assert [c.field for c in causes] == ["metadata.labels[pod-security.kubernetes.io/warn]"]


def test_existing_pod_warnings_group_by_reasons() -> None:
    bad = {"spec": spec(hostPID=True)}
    pods = [{"metadata": {"name": n}, **bad} for n in ("c", "a", "b")]
    pods.append({"metadata": {"name": "z"}, "spec": spec({"securityContext": {"privileged": True}})})
    pods.append({"metadata": {"name": "fine"}, "spec": spec({})})
    warnings = _existing_pod_warnings("ns", LevelVersion("baseline", LATEST, "latest"), pods)
    assert warnings == [
        'existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"',
        "a (and 2 other pods): host namespaces",
        "z: privileged",
    ]
