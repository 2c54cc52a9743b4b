"""Objects read back in the shape Go's encoder gives them, which the official client's models mirror: a struct
field that is not a pointer is always there (``status: {}``), a field without omitempty is there at its zero."""

from __future__ import annotations

import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import raw_request

META = client.V1ObjectMeta
NS = "default"
JSON = {"Content-Type": "application/json"}
SELECTOR = client.V1LabelSelector(match_labels={"app": "shape"})
TEMPLATE = client.V1PodTemplateSpec(
    metadata=META(labels={"app": "shape"}),
    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
)


def _csr_request() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shape-user")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def test_a_csr_is_approved_the_way_python_users_write_it(module_k8s_client: ApiClient) -> None:
    certs = client.CertificatesV1Api(module_k8s_client)
    spec = client.V1CertificateSigningRequestSpec(
        request=_csr_request(), signer_name="example.com/shape", usages=["client auth"]
    )
    created = certs.create_certificate_signing_request(
        client.V1CertificateSigningRequest(metadata=META(name="shape-csr"), spec=spec)
    )
    assert created.status is not None and created.status.conditions is None
    body = certs.read_certificate_signing_request_status("shape-csr")
    body.status.conditions = [
        client.V1CertificateSigningRequestCondition(type="Approved", status="True", reason="Shape", message="ok")
    ]
    approved = certs.replace_certificate_signing_request_approval("shape-csr", body)
    assert [(c.type, c.status) for c in approved.status.conditions] == [("Approved", "True")]


def test_fresh_objects_have_the_statuses_go_writes(module_k8s_client: ApiClient) -> None:
    apps, core = client.AppsV1Api(module_k8s_client), client.CoreV1Api(module_k8s_client)
    policy = client.PolicyV1Api(module_k8s_client)
    deployment = apps.create_namespaced_deployment(
        NS,
        client.V1Deployment(
            metadata=META(name="shape"), spec=client.V1DeploymentSpec(selector=SELECTOR, template=TEMPLATE)
        ),
    )
    assert deployment.status is not None and deployment.status.conditions is None
    assert apps.read_namespaced_deployment_status("shape", NS).status.replicas is None  # omitempty: stays absent
    rs = apps.create_namespaced_replica_set(
        NS,
        client.V1ReplicaSet(
            metadata=META(name="shape"), spec=client.V1ReplicaSetSpec(selector=SELECTOR, template=TEMPLATE)
        ),
    )
    assert rs.status.replicas == 0  # not omitempty: written at zero
    service = core.create_namespaced_service(
        NS,
        client.V1Service(metadata=META(name="shape"), spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)])),
    )
    assert service.status.load_balancer is not None and service.status.load_balancer.ingress is None
    node = core.create_node(client.V1Node(metadata=META(name="shape-node")))
    assert node.spec is not None and node.status.node_info.kubelet_version == ""
    assert node.status.daemon_endpoints.kubelet_endpoint.port == 0
    pdb = policy.create_namespaced_pod_disruption_budget(
        NS,
        client.V1PodDisruptionBudget(
            metadata=META(name="shape"), spec=client.V1PodDisruptionBudgetSpec(selector=SELECTOR)
        ),
    )
    assert (pdb.status.current_healthy, pdb.status.desired_healthy, pdb.status.expected_pods) == (0, 0, 0)
    listed = apps.list_namespaced_deployment(NS, field_selector="metadata.name=shape").items
    assert listed[0].status is not None
    service_ref = client.ApiregistrationV1ServiceReference(namespace=NS, name="shape", port=443)
    spec = client.V1APIServiceSpec(
        group="shape.example.com",
        version="v1",
        group_priority_minimum=100,
        version_priority=10,
        service=service_ref,
        insecure_skip_tls_verify=True,
    )
    api_service = client.ApiregistrationV1Api(module_k8s_client).create_api_service(
        client.V1APIService(metadata=META(name="v1.shape.example.com"), spec=spec)
    )
    assert api_service.status is not None  # a kind the protobuf descriptors lack: its status is a struct too


def test_an_hpa_status_is_written_per_version_as_go_writes_it(module_k8s_client: ApiClient) -> None:
    v1, v2 = client.AutoscalingV1Api(module_k8s_client), client.AutoscalingV2Api(module_k8s_client)
    ref = client.V1CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="shape")
    spec = client.V1HorizontalPodAutoscalerSpec(scale_target_ref=ref, max_replicas=3)
    made = v1.create_namespaced_horizontal_pod_autoscaler(
        NS, client.V1HorizontalPodAutoscaler(metadata=META(name="shape"), spec=spec)
    )
    assert (made.status.current_replicas, made.status.desired_replicas) == (0, 0)  # neither is omitempty in v1
    at_v2 = v2.read_namespaced_horizontal_pod_autoscaler("shape", NS).status
    assert (at_v2.current_replicas, at_v2.desired_replicas) == (None, 0)  # currentReplicas is omitempty in v2


def test_omitempty_scalars_at_zero_are_not_written_and_pointers_are(module_k8s_client: ApiClient) -> None:
    """Go's encoder leaves out an ``omitempty`` field at its zero value unless it is a pointer: ``paused: false``,
    ``minReadySeconds: 0``, ``stdin: false``, ``workingDir: ""`` and ``hostPort: 0`` read back absent (None in the
    client's models; they read back as written), while ``replicas: 0`` and ``terminationGracePeriodSeconds: 0``
    (pointers) stay 0, and ``containerPort`` (no omitempty) is kept."""
    apps = client.AppsV1Api(module_k8s_client)
    container = client.V1Container(
        name="c",
        image="busybox",
        stdin=False,
        working_dir="",
        ports=[client.V1ContainerPort(container_port=80, host_port=0)],
    )
    template = client.V1PodTemplateSpec(
        metadata=META(labels={"app": "shape"}),
        spec=client.V1PodSpec(containers=[container], host_network=False, termination_grace_period_seconds=0),
    )
    spec = client.V1DeploymentSpec(selector=SELECTOR, template=template, replicas=0, paused=False, min_ready_seconds=0)
    apps.create_namespaced_deployment(NS, client.V1Deployment(metadata=META(name="zeros"), spec=spec))
    read = apps.read_namespaced_deployment("zeros", NS).spec
    pod = read.template.spec
    assert (read.paused, read.min_ready_seconds, pod.host_network) == (None, None, None)
    assert (pod.containers[0].stdin, pod.containers[0].working_dir, pod.containers[0].ports[0].host_port) == (
        None,
        None,
        None,
    )
    assert (read.replicas, pod.termination_grace_period_seconds, pod.containers[0].ports[0].container_port) == (
        0,
        0,
        80,
    )


def test_zero_values_and_nulls_get_the_defaults_go_gives_them(module_k8s_client: ApiClient) -> None:
    """Go's defaulters see a plain field sent at its zero value as unset, and a pointer sent as null as nil: a
    chart's ``restartPolicy: ""`` or ``replicas: null`` gets the default, not a 422 or a missing field."""
    core, apps = client.CoreV1Api(module_k8s_client), client.AppsV1Api(module_k8s_client)
    container = {"name": "c", "image": "busybox", "terminationMessagePath": "", "terminationMessagePolicy": ""}
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 0, "timeoutSeconds": 0}
    pod_spec = {
        "containers": [{**container, "readinessProbe": probe}],
        "restartPolicy": "",
        "dnsPolicy": "",
        "schedulerName": "",
        "enableServiceLinks": None,
    }
    pod = core.create_namespaced_pod(NS, {"metadata": {"name": "zero-defaults"}, "spec": pod_spec}).spec
    assert (pod.restart_policy, pod.dns_policy, pod.scheduler_name, pod.enable_service_links) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
        True,
    )
    c = pod.containers[0]
    assert (c.termination_message_path, c.termination_message_policy) == ("/dev/termination-log", "File")
    assert (c.readiness_probe.period_seconds, c.readiness_probe.timeout_seconds) == (10, 1)
    template = {"metadata": {"labels": {"app": "shape"}}, "spec": {"containers": [container]}}
    body = {
        "metadata": {"name": "null-defaults"},
        "spec": {
            "selector": {"matchLabels": {"app": "shape"}},
            "template": template,
            "replicas": None,
            "revisionHistoryLimit": None,
            "strategy": {"type": ""},
        },
    }
    apps.create_namespaced_deployment(NS, body)
    read = apps.read_namespaced_deployment("null-defaults", NS).spec
    assert (read.replicas, read.revision_history_limit, read.strategy.type) == (1, 10, "RollingUpdate")
    assert (read.strategy.rolling_update.max_surge, read.strategy.rolling_update.max_unavailable) == ("25%", "25%")


def test_optional_fields_without_omitempty_are_written_at_zero(module_k8s_client: ApiClient) -> None:
    """A few ``+optional`` fields have no ``omitempty`` (not ``required`` in the OpenAPI, yet always written): a core
    Event's ``reportingComponent`` and ``reportingInstance`` read back ``""`` (and stay out of the events.k8s.io
    view, where they have it), a StatefulSet's ``status.availableReplicas`` and ``spec.ordinals.start`` 0."""
    core, apps = client.CoreV1Api(module_k8s_client), client.AppsV1Api(module_k8s_client)
    event = core.create_namespaced_event(
        NS,
        client.CoreV1Event(
            metadata=META(name="shape-event"),
            involved_object=client.V1ObjectReference(kind="Pod", name="p", namespace=NS),
            reason="Shape",
            message="m",
        ),
    )
    assert (event.reporting_component, event.reporting_instance) == ("", "")
    # (read raw: this client's EventsV1Event model refuses the zero eventTime of an Event made through core/v1)
    raw = client.EventsV1Api(module_k8s_client).read_namespaced_event("shape-event", NS, _preload_content=False)
    as_events = json.loads(raw.data)
    assert as_events["note"] == "m" and "reportingController" not in as_events and "reportingInstance" not in as_events

    spec = client.V1StatefulSetSpec(
        selector=SELECTOR, service_name="shape", template=TEMPLATE, ordinals=client.V1StatefulSetOrdinals(start=0)
    )
    sts = apps.create_namespaced_stateful_set(NS, client.V1StatefulSet(metadata=META(name="shape"), spec=spec))
    assert (sts.status.available_replicas, sts.status.replicas, sts.spec.ordinals.start) == (0, 0, 0)


def test_quantities_are_written_in_canonical_form(module_k8s_client: ApiClient) -> None:
    """Go's Quantity keeps the string it parsed only if it is already canonical: ``1000m`` comes back as ``1``,
    ``0.5Gi`` as ``512Mi``, a JSON number as a string, as ``kubectl apply`` users see (and GitOps tools diff on)."""
    core = client.CoreV1Api(module_k8s_client)
    resources = {
        "limits": {"cpu": "1000m", "memory": "0.5Gi", "ephemeral-storage": " 2Gi "},
        "requests": {"cpu": "0.1", "memory": "1048576"},
    }
    pod = {
        "metadata": {"name": "quantities"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox", "resources": resources}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1024Mi"}}],
        },
    }
    created = core.create_namespaced_pod(NS, pod)
    assert created.spec.containers[0].resources.limits == {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "2Gi"}
    stored = core.read_namespaced_pod("quantities", NS)
    requests = stored.spec.containers[0].resources.requests
    assert requests == {"cpu": "100m", "memory": "1048576", "ephemeral-storage": "2Gi"}  # (defaulted from limits)
    assert stored.spec.volumes[0].empty_dir.size_limit == "1Gi"
    # numbers (which the client's models do not send, but kubectl and others may)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}}
    quota["spec"] = {"hard": {"pods": 1000, "cpu": 0.5, "memory": "1e3"}}
    url = module_k8s_client.configuration.host
    status, _ = raw_request(url, "POST", f"/api/v1/namespaces/{NS}/resourcequotas", json.dumps(quota).encode(), JSON)
    assert status == 201
    hard = core.read_namespaced_resource_quota("q", NS).spec.hard
    assert hard == {"pods": "1k", "cpu": "500m", "memory": "1e3"}  # (1e3 is canonical: an exponent stays one)


def test_base64_with_line_breaks_is_taken_and_written_on_one_line(module_k8s_client: ApiClient) -> None:
    """``base64`` wraps its output at 76 columns; Go's decoder skips the line breaks and its encoder writes none."""
    data = base64.encodebytes(b"x" * 100).decode()  # wrapped, with a trailing newline
    assert "\n" in data.rstrip("\n")
    core = client.CoreV1Api(module_k8s_client)
    secret = core.create_namespaced_secret(NS, {"metadata": {"name": "wrapped"}, "data": {"blob": data}})
    assert secret.data == {"blob": base64.b64encode(b"x" * 100).decode()}
    assert base64.b64decode(core.read_namespaced_secret("wrapped", NS).data["blob"]) == b"x" * 100
