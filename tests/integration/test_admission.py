"""The admission chain through the official Python client: an in-process server with every built-in plugin,
and the service-account, namespace and resource-quota controllers beside it."""

from __future__ import annotations

import concurrent.futures
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ControllerServer, eventually

Obj = dict[str, Any]


class AdmissionServer(ControllerServer):
    """A threaded server with the default admission plugins and the controllers they rely on."""

    controllers = ("serviceaccount", "namespace", "resourcequota")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdmissionServer]:
    ts = AdmissionServer(tmp_path_factory.mktemp("admission"))
    try:
        yield ts
    finally:
        ts.close()


@pytest.fixture(scope="module")
def core(server: AdmissionServer) -> Iterator[kubernetes.client.CoreV1Api]:
    with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=server.url)) as api:
        yield kubernetes.client.CoreV1Api(api)


_counter = iter(range(1000))


def namespace(core: kubernetes.client.CoreV1Api, labels: dict[str, str] | None = None) -> str:
    """A fresh namespace whose default service account exists."""
    name = f"adm-{next(_counter)}"
    core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    eventually(lambda: core.list_namespaced_service_account(name).items)
    return name


def pod(name: str, **spec: Any) -> Obj:
    container = {"name": "app", "image": "busybox", **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def raw(server: AdmissionServer, method: str, path: str, body: Obj | None = None) -> tuple[int, Obj, list[str]]:
    """One request; its status, decoded body and Warning headers."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get_all("Warning") or []
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get_all("Warning") or []


def refused(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body)["message"]


# ---- NamespaceLifecycle --------------------------------------------------------------------------------------
def test_system_namespaces_cannot_be_deleted(core: kubernetes.client.CoreV1Api) -> None:
    status, message = refused(lambda: core.delete_namespace("kube-system"))
    assert (status, message) == (403, 'namespaces "kube-system" is forbidden: this namespace may not be deleted')


def test_no_content_in_a_missing_namespace(core: kubernetes.client.CoreV1Api) -> None:
    status, message = refused(lambda: core.create_namespaced_config_map("nowhere", {"metadata": {"name": "c"}}))
    assert (status, message) == (404, 'namespaces "nowhere" not found')


# ---- ServiceAccount ------------------------------------------------------------------------------------------
def test_pods_get_the_default_account_and_its_credentials(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    created = core.create_namespaced_pod(ns, pod("p")).to_dict()
    spec = created["spec"]
    assert spec["service_account_name"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    sources = volume["projected"]["sources"]
    token = sources[0]["service_account_token"]
    assert (token["expiration_seconds"], token["path"]) == (3607, "token")
    assert sources[1]["config_map"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downward_api"]["items"][0]["field_ref"]["field_path"] == "metadata.namespace"
    [mount] = spec["containers"][0]["volume_mounts"]
    assert mount["mount_path"] == "/var/run/secrets/kubernetes.io/serviceaccount" and mount["read_only"]
    assert mount["name"] == volume["name"]


def test_no_credentials_when_the_pod_opts_out(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    created = core.create_namespaced_pod(ns, pod("p", automountServiceAccountToken=False)).to_dict()
    assert not created["spec"]["volumes"] and not created["spec"]["containers"][0]["volume_mounts"]


def test_pods_get_their_accounts_pull_secrets(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "puller"}, "imagePullSecrets": [{"name": "reg"}]})
    created = core.create_namespaced_pod(ns, pod("p", serviceAccountName="puller")).to_dict()
    assert created["spec"]["image_pull_secrets"] == [{"name": "reg"}]
    own = core.create_namespaced_pod(ns, pod("q", serviceAccountName="puller", imagePullSecrets=[{"name": "mine"}]))
    assert own.to_dict()["spec"]["image_pull_secrets"] == [{"name": "mine"}]


def test_a_missing_account_is_refused(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    status, message = refused(lambda: core.create_namespaced_pod(ns, pod("p", serviceAccountName="ghost")))
    assert status == 403
    assert message == (
        f'pods "p" is forbidden: error looking up service account {ns}/ghost: serviceaccount "ghost" not found'
    )
    assert not core.list_namespaced_pod(ns).items  # nothing written


def test_the_creator_owns_what_it_sent_and_its_defaults_not_what_admission_added(
    core: kubernetes.client.CoreV1Api,
) -> None:
    """As ``kubectl run`` pods read back upstream: the field manager runs before mutating admission and the
    kind's preparation, so the service account's volume and mount, and a namespace's finalizer, are nobody's."""
    ns = namespace(core)
    created = core.create_namespaced_pod(ns, pod("p"), field_manager="maker")
    assert created.spec.volumes and created.spec.service_account_name == "default"
    [entry] = created.metadata.managed_fields
    spec = entry.fields_v1["f:spec"]
    assert entry.manager == "maker" and entry.time == created.metadata.creation_timestamp
    assert set(spec) == {
        "f:containers",
        "f:dnsPolicy",
        "f:enableServiceLinks",
        "f:restartPolicy",
        "f:schedulerName",
        "f:securityContext",
        "f:terminationGracePeriodSeconds",
    }
    container = spec["f:containers"]['k:{"name":"app"}']
    assert "f:volumeMounts" not in container and "f:imagePullPolicy" in container
    made = core.create_namespace({"metadata": {"name": "owned-ns"}}, field_manager="maker")
    assert made.spec.finalizers == ["kubernetes"]
    assert made.metadata.managed_fields[0].fields_v1 == {
        "f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}
    }


# ---- LimitRanger ---------------------------------------------------------------------------------------------
def test_limit_range_defaults_and_bounds(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    core.create_namespaced_limit_range(
        ns,
        {
            "metadata": {"name": "limits"},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "128Mi"},
                        "defaultRequest": {"cpu": "100m"},
                        "max": {"cpu": "1"},
                    }
                ]
            },
        },
    )
    created = core.create_namespaced_pod(ns, pod("defaulted")).to_dict()
    resources = created["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "500m", "memory": "128Mi"}
    assert resources["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
    )
    big = pod("big", container={"resources": {"limits": {"cpu": "2"}}})
    status, message = refused(lambda: core.create_namespaced_pod(ns, big))
    assert (status, message) == (403, 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2')


# ---- ResourceQuota -------------------------------------------------------------------------------------------
def quota(core: kubernetes.client.CoreV1Api, ns: str, hard: dict[str, str]) -> None:
    core.create_namespaced_resource_quota(ns, {"metadata": {"name": "q"}, "spec": {"hard": hard}})
    eventually(
        lambda: (core.read_namespaced_resource_quota("q", ns).status or kubernetes.client.V1ResourceQuotaStatus()).used
    )


def test_quota_refuses_past_its_limit_and_counts_usage(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    quota(core, ns, {"pods": "1", "configmaps": "2"})
    core.create_namespaced_pod(ns, pod("one"))
    status, message = refused(lambda: core.create_namespaced_pod(ns, pod("two")))
    assert status == 403
    assert message == 'pods "two" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'
    used = core.read_namespaced_resource_quota("q", ns).status.used
    assert used["pods"] == "1"
    core.delete_namespaced_pod("one", ns)
    eventually(lambda: core.read_namespaced_resource_quota("q", ns).status.used["pods"] == "0")
    core.create_namespaced_pod(ns, pod("two"))


def test_quota_of_compute_resources_requires_explicit_requests(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    quota(core, ns, {"requests.cpu": "1", "limits.memory": "1Gi"})
    status, message = refused(lambda: core.create_namespaced_pod(ns, pod("bare")))
    assert status == 403
    assert (
        message
        == 'pods "bare" is forbidden: failed quota: q: must specify limits.memory for: app; requests.cpu for: app'
    )
    sized = {"resources": {"requests": {"cpu": "600m"}, "limits": {"memory": "512Mi"}}}
    core.create_namespaced_pod(ns, pod("a", container=sized))
    status, message = refused(lambda: core.create_namespaced_pod(ns, pod("b", container=sized)))
    assert message == (
        'pods "b" is forbidden: exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=600m, '
        "limited: requests.cpu=1"
    )
    used = core.read_namespaced_resource_quota("q", ns).status.used
    assert used == {"requests.cpu": "600m", "limits.memory": "512Mi"}


def test_concurrent_creates_never_overshoot_the_quota(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    quota(core, ns, {"count/configmaps": "5"})

    def create(i: int) -> bool:
        try:
            core.create_namespaced_config_map(ns, {"metadata": {"name": f"c{i}"}})
        except ApiException as exc:
            assert exc.status == 403 and "exceeded quota: q" in exc.body
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(12)))
    assert sum(results) == 5
    assert len(core.list_namespaced_config_map(ns).items) == 5
    assert core.read_namespaced_resource_quota("q", ns).status.used == {"count/configmaps": "5"}


def test_dry_run_is_checked_but_not_charged(server: AdmissionServer, core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    quota(core, ns, {"secrets": "1"})
    path = f"/api/v1/namespaces/{ns}/secrets?dryRun=All"
    status, _, _ = raw(server, "POST", path, {"metadata": {"name": "s"}})
    assert status == 201
    assert core.read_namespaced_resource_quota("q", ns).status.used == {"secrets": "0"}
    core.create_namespaced_secret(ns, {"metadata": {"name": "real"}})
    status, body, _ = raw(server, "POST", path, {"metadata": {"name": "s"}})
    assert (
        status == 403
        and "exceeded quota: q, requested: secrets=1, used: secrets=1, limited: secrets=1" in body["message"]
    )


# ---- PodSecurity ---------------------------------------------------------------------------------------------
RESTRICTED_MESSAGE = (
    'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set '
    'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set '
    'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set '
    'securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set '
    'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
)
COMPLIANT = {
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
}


def test_restricted_namespace_refuses_an_unhardened_pod(core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core, {"pod-security.kubernetes.io/enforce": "restricted"})
    status, message = refused(lambda: core.create_namespaced_pod(ns, pod("p")))
    assert (status, message) == (403, f'pods "p" is forbidden: {RESTRICTED_MESSAGE}')
    core.create_namespaced_pod(ns, pod("ok", container=COMPLIANT))


def test_warn_mode_warns_pods_and_workloads(server: AdmissionServer, core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core, {"pod-security.kubernetes.io/warn": "baseline"})
    status, _, warnings = raw(server, "POST", f"/api/v1/namespaces/{ns}/pods", pod("p", hostNetwork=True))
    assert status == 201
    assert warnings == ['299 - "would violate PodSecurity \\"baseline:latest\\": host namespaces (hostNetwork=true)"']
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
            },
        },
    }
    status, _, warnings = raw(server, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
    assert status == 201
    assert warnings == [
        '299 - "would violate PodSecurity \\"baseline:latest\\": privileged (container \\"c\\" must not set '
        'securityContext.privileged=true)"'
    ]


def test_tightening_a_namespace_warns_about_its_pods(
    server: AdmissionServer, core: kubernetes.client.CoreV1Api
) -> None:
    ns = namespace(core)
    for name in ("a", "b", "c"):
        core.create_namespaced_pod(ns, pod(name, hostPID=True))
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    req = urllib.request.Request(
        f"{server.url}/api/v1/namespaces/{ns}", data=json.dumps(patch).encode(), method="PATCH"
    )
    req.add_header("Content-Type", "application/merge-patch+json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        warnings = resp.headers.get_all("Warning")
    assert warnings == [
        f'299 - "existing pods in namespace \\"{ns}\\" violate the new PodSecurity enforce level '
        '\\"baseline:latest\\""',
        '299 - "a (and 2 other pods): host namespaces"',
    ]


def test_a_bad_level_label_is_invalid(core: kubernetes.client.CoreV1Api) -> None:
    status, message = refused(
        lambda: core.create_namespace(
            {"metadata": {"name": "bad-level", "labels": {"pod-security.kubernetes.io/enforce": "strict"}}}
        )
    )
    assert status == 422
    assert "must be one of privileged, baseline, restricted" in message


def test_object_count_quota_of_another_group(server: AdmissionServer, core: kubernetes.client.CoreV1Api) -> None:
    ns = namespace(core)
    quota(core, ns, {"count/deployments.apps": "1"})
    deployment = {
        "metadata": {"name": "d1"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    assert raw(server, "POST", path, deployment)[0] == 201
    status, body, _ = raw(server, "POST", path, {**deployment, "metadata": {"name": "d2"}})
    assert status == 403
    assert body["message"] == (
        'deployments.apps "d2" is forbidden: exceeded quota: q, requested: count/deployments.apps=1, '
        "used: count/deployments.apps=1, limited: count/deployments.apps=1"
    )
    # The controller recounts kinds it does not watch from the API: after a delete and a change of the quota.
    assert raw(server, "DELETE", f"{path}/d1")[0] == 200
    core.patch_namespaced_resource_quota("q", ns, {"spec": {"hard": {"count/deployments.apps": "2"}}})
    eventually(lambda: core.read_namespaced_resource_quota("q", ns).status.used == {"count/deployments.apps": "0"})
