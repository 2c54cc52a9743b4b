"""What a DELETE answers, as the official ``kubernetes`` client reads it: the deleted object for the kinds whose
upstream store returns it (their typed delete methods deserialize into the kind), a Status for the others, and
200 for a pending deletion unless ``orphanDependents: false`` asked for one."""

from __future__ import annotations

import json

from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import ThreadedServer, raw_request

META = client.V1ObjectMeta


def test_kinds_whose_delete_returns_the_object_deserialize_into_it(module_k8s_client: ApiClient) -> None:
    core, storage = client.CoreV1Api(module_k8s_client), client.StorageV1Api(module_k8s_client)
    sc = storage.create_storage_class(client.V1StorageClass(metadata=META(name="del-sc"), provisioner="example.com/p"))
    gone_sc = storage.delete_storage_class("del-sc")
    assert isinstance(gone_sc, client.V1StorageClass) and gone_sc.metadata.uid == sc.metadata.uid
    pv = client.V1PersistentVolume(
        metadata=META(name="del-pv"),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": "1Gi"},
            access_modes=["ReadWriteOnce"],
            host_path=client.V1HostPathVolumeSource(path="/x"),
        ),
    )
    core.create_persistent_volume(pv)
    assert core.delete_persistent_volume("del-pv").spec.capacity == {"storage": "1Gi"}
    core.create_namespaced_service_account("default", client.V1ServiceAccount(metadata=META(name="del-sa")))
    assert isinstance(core.delete_namespaced_service_account("del-sa", "default"), client.V1ServiceAccount)
    quota = client.V1ResourceQuota(metadata=META(name="del-rq"), spec=client.V1ResourceQuotaSpec(hard={"pods": "3"}))
    core.create_namespaced_resource_quota("default", quota)
    assert core.delete_namespaced_resource_quota("del-rq", "default").spec.hard == {"pods": "3"}
    storage.create_csi_driver(client.V1CSIDriver(metadata=META(name="del.example.com"), spec=client.V1CSIDriverSpec()))
    assert storage.delete_csi_driver("del.example.com").metadata.name == "del.example.com"

    cm = core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=META(name="del-cm")))
    status = client.V1Status.from_dict(core.delete_namespaced_config_map("del-cm", "default"))
    assert status.status == "Success" and status.details.kind == "configmaps" and status.details.uid == cm.metadata.uid


def test_openapi_says_which_deletes_return_the_object(module_server: ThreadedServer) -> None:
    _, doc = raw_request(module_server.url, "GET", "/openapi/v2")
    ok = doc["paths"]["/apis/storage.k8s.io/v1/storageclasses/{name}"]["delete"]["responses"]["200"]
    assert ok["schema"]["$ref"] == "#/definitions/io.k8s.api.storage.v1.StorageClass"
    ok = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["delete"]["responses"]["200"]
    assert ok["schema"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Status"


def test_a_pending_deletion_is_200_unless_orphan_dependents_is_false(module_server: ThreadedServer) -> None:
    url, cms = module_server.url, "/api/v1/namespaces/default/configmaps"
    for name in ("held-a", "held-b"):
        body = json.dumps({"metadata": {"name": name, "finalizers": ["example.com/hold"]}}).encode()
        assert raw_request(url, "POST", cms, body, {"Content-Type": "application/json"})[0] == 201
    status, answer = raw_request(url, "DELETE", f"{cms}/held-a")
    assert status == 200 and answer["metadata"]["deletionTimestamp"]
    status, answer = raw_request(url, "DELETE", f"{cms}/held-b?orphanDependents=false")
    assert status == 202 and answer["metadata"]["deletionTimestamp"]
