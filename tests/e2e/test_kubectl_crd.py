"""The real kubectl 1.32 and a CustomResourceDefinition's whole life against ``pinnace up``.

Create the CRD, explain its kind, apply a custom resource (client-side apply:
kubectl falls back from strategic merge to merge patch for CRs), get it with
its printer columns and by short name and category, see an invalid one
rejected with every reason, scale one, delete the CRD and see its objects go.
One cluster for the module; the steps build on each other, in one test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.slow

CRD = r"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        description: CronTab runs an image on a schedule.
        properties:
          spec:
            type: object
            description: The desired state of the CronTab.
            x-kubernetes-validations:
            - rule: self.replicas <= self.maxReplicas
              message: replicas must not exceed maxReplicas
            properties:
              cronSpec:
                type: string
                description: The schedule, in cron format.
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image: {type: string}
              replicas: {type: integer, minimum: 0, default: 1}
              maxReplicas: {type: integer, default: 10}
          status:
            type: object
            properties:
              replicas: {type: integer}
"""

CRONTAB = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: my-cron
spec:
  cronSpec: "* * * * */5"
  image: {image}
"""

INVALID = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: bad-cron
spec:
  cronSpec: nope
  image: 42
  replicas: three
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_crd_whole_life(cluster: Cluster, tmp_path: Path) -> None:
    k = cluster.kubectl
    k("apply", "-f", write(tmp_path, "crd.yaml", CRD))
    k("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=10s")

    explained = k("explain", "crontab").stdout
    assert "KIND:       CronTab" in explained and "CronTab runs an image on a schedule." in explained
    recursive = k("explain", "crontab.spec", "--recursive").stdout
    for field in ("cronSpec\t<string>", "image\t<string>", "replicas\t<integer>"):
        assert field in recursive

    out = k("apply", "-f", write(tmp_path, "ct.yaml", CRONTAB.format(image="cron:1"))).stdout
    assert out.strip() == "crontab.stable.example.com/my-cron created"
    out = k("apply", "-f", write(tmp_path, "ct2.yaml", CRONTAB.format(image="cron:2"))).stdout
    assert out.strip() == "crontab.stable.example.com/my-cron configured"  # merge patch: CRs take no strategic merge
    got = json.loads(k("get", "crontab", "my-cron", "-o", "json").stdout)
    assert got["spec"] == {"cronSpec": "* * * * */5", "image": "cron:2", "replicas": 1, "maxReplicas": 10}

    lines = k("get", "ct").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert lines[1].split()[:7] == ["my-cron", "*", "*", "*", "*", "*/5", "1"]
    assert "crontab.stable.example.com/my-cron" in k("get", "all").stdout

    bad = k("apply", "-f", write(tmp_path, "bad.yaml", INVALID), check=False)
    assert bad.returncode != 0
    assert 'The CronTab "bad-cron" is invalid:' in bad.stderr
    for reason in (
        '* spec.cronSpec: Invalid value: "nope": spec.cronSpec in body should match \'^(\\d+|\\*)(/\\d+)?'
        "(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
        '* spec.image: Invalid value: "integer": spec.image in body must be of type string: "integer"',
        '* spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    ):
        assert reason in bad.stderr
    too_many = k("patch", "ct", "my-cron", "--type=merge", "-p", '{"spec":{"replicas":11}}', check=False)
    assert (
        'The CronTab "my-cron" is invalid: spec: Invalid value: "object": replicas must not exceed maxReplicas'
        in too_many.stderr
    )

    finalizers = '{"metadata": {"finalizers": ["stable.example.com/drain", "cleanup"]}}'
    out = k("patch", "ct", "my-cron", "--type=merge", "-p", finalizers)
    assert out.stderr.strip() == (
        'Warning: metadata.finalizers: "cleanup": prefer a domain-qualified finalizer name to avoid accidental '
        "conflicts with other finalizer writers"
    )
    assert k("patch", "ct", "my-cron", "--type=merge", "-p", '{"metadata": {"finalizers": null}}').stderr == ""
    assert (
        k("scale", "crontab", "my-cron", "--replicas=3").stdout.strip() == "crontab.stable.example.com/my-cron scaled"
    )
    assert k("get", "ct", "my-cron", "-o", "jsonpath={.spec.replicas}").stdout == "3"

    k("delete", "crd", "crontabs.stable.example.com", "--timeout=20s")
    assert k("get", "crd").stdout == ""
    deadline = time.monotonic() + 10
    while "stable.example.com" in k("api-resources", "--api-group=stable.example.com").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Created again, the CRD starts with no objects: they went with the CRD.
    k("apply", "-f", write(tmp_path, "crd.yaml", CRD))
    k("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=10s")
    assert k("get", "crontabs", "-o", "name").stdout == ""


def test_explain_from_the_openapi_v2_protobuf_document(cluster: Cluster, tmp_path: Path) -> None:
    """``--output=plaintext-openapiv2`` makes kubectl read gnostic's protobuf form of /openapi/v2."""
    k = cluster.kubectl
    replicas = k("explain", "deployment.spec.replicas", "--output=plaintext-openapiv2").stdout
    assert "KIND:     Deployment" in replicas and "FIELD:    replicas <integer>" in replicas
    assert "Number of desired pods." in replicas
    gadgets = CRD.replace("crontab", "gadget").replace("CronTab", "Gadget").replace("shortNames: [ct]", "")
    k("apply", "-f", write(tmp_path, "gadgets.yaml", gadgets))
    k("wait", "--for=condition=Established", "crd/gadgets.stable.example.com", "--timeout=10s")
    spec = k("explain", "gadget.spec", "--output=plaintext-openapiv2").stdout
    assert "KIND:     Gadget" in spec and "VERSION:  stable.example.com/v1" in spec
    assert "cronSpec\t<string>" in spec and "replicas\t<integer>" in spec
    k("delete", "crd", "gadgets.stable.example.com", "--timeout=20s")
