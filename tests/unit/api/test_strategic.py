"""Strategic merge patch against the real v1.32 schemas (Pod, Deployment, ConfigMap)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api import definitions, errors
from pinnace.api.strategic import apply_strategic_patch

POD_SCHEMA = definitions.definition_for("", "v1", "Pod")
DEPLOYMENT_SCHEMA = definitions.definition_for("apps", "v1", "Deployment")


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"note": "x"},
            "finalizers": ["a.io/one", "a.io/two"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "args": ["--a", "--b"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}],
                },
                {"name": "sidecar", "image": "side:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c1"}}],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd", "zone": "a"},
        },
    }
    base["spec"].update(spec)
    return base


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["containers"]
    return result


CASES: list[tuple[str, dict[str, Any], Any]] = [
    # (description, patch, check(result) -> expected value)
    (
        "label add and null delete (kubectl label)",
        {"metadata": {"labels": {"tier": None, "env": "prod"}}},
        lambda r: r["metadata"]["labels"] == {"app": "web", "env": "prod"},
    ),
    (
        "annotate",
        {"metadata": {"annotations": {"new": "y"}}},
        lambda r: r["metadata"]["annotations"] == {"note": "x", "new": "y"},
    ),
    (
        "set image merges container by name",
        {"spec": {"containers": [{"name": "app", "image": "app:2"}]}},
        lambda r: (
            [c["image"] for c in containers(r)] == ["app:2", "side:1"] and containers(r)[0]["args"] == ["--a", "--b"]
        ),
    ),
    (
        "new container lands before live-only ones, as upstream orders it",
        {"spec": {"containers": [{"name": "new", "image": "n:1"}]}},
        lambda r: [c["name"] for c in containers(r)] == ["new", "app", "sidecar"],
    ),
    (
        "$patch delete removes a container by key",
        {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}},
        lambda r: [c["name"] for c in containers(r)] == ["app"],
    ),
    (
        "env merges by name",
        {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "22"}, {"name": "C", "value": "3"}]}]}},
        lambda r: (
            containers(r)[0]["env"]
            == [{"name": "A", "value": "1"}, {"name": "B", "value": "22"}, {"name": "C", "value": "3"}]
        ),
    ),
    (
        "env delete directive",
        {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}},
        lambda r: containers(r)[0]["env"] == [{"name": "B", "value": "2"}],
    ),
    (
        "ports merge by containerPort",
        {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443, "protocol": "TCP"}]}]}},
        lambda r: (
            containers(r)[0]["ports"]
            == [
                {"containerPort": 80, "name": "http"},
                {"containerPort": 443, "name": "https", "protocol": "TCP"},
            ]
        ),
    ),
    (
        "args (no strategy) are replaced",
        {"spec": {"containers": [{"name": "app", "args": ["--c"]}]}},
        lambda r: containers(r)[0]["args"] == ["--c"],
    ),
    (
        "tolerations are atomic: replaced",
        {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}},
        lambda r: r["spec"]["tolerations"] == [{"key": "k2", "operator": "Exists"}],
    ),
    (
        "volumes merge by name",
        {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c2"}}]}},
        lambda r: (
            r["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c2"}}]
        ),
    ),
    (
        "volume $retainKeys switches the source type (client-side apply)",
        {"spec": {"volumes": [{"name": "data", "$retainKeys": ["name", "secret"], "secret": {"secretName": "s"}}]}},
        lambda r: r["spec"]["volumes"][0] == {"name": "data", "secret": {"secretName": "s"}},
    ),
    (
        "map $patch replace",
        {"spec": {"nodeSelector": {"$patch": "replace", "gpu": "yes"}}},
        lambda r: r["spec"]["nodeSelector"] == {"gpu": "yes"},
    ),
    (
        "map $patch delete empties it",
        {"spec": {"nodeSelector": {"$patch": "delete"}}},
        lambda r: r["spec"]["nodeSelector"] == {},
    ),
    (
        "null deletes a whole field",
        {"spec": {"nodeSelector": None, "tolerations": None}},
        lambda r: "nodeSelector" not in r["spec"] and "tolerations" not in r["spec"],
    ),
    (
        "list $patch replace",
        {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}},
        lambda r: containers(r) == [{"name": "only", "image": "o:1"}],
    ),
    (
        "$setElementOrder fixes the order",
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}, {"name": "new"}],
                "containers": [{"name": "new", "image": "n:1"}],
            }
        },
        lambda r: [c["name"] for c in containers(r)] == ["sidecar", "app", "new"],
    ),
    (
        "$setElementOrder on env with one change (client-side apply)",
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                        "env": [{"name": "A", "value": "9"}],
                    }
                ],
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            }
        },
        lambda r: containers(r)[0]["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}],
    ),
    (
        "primitive merge list (finalizers) merges as a set",
        {"metadata": {"finalizers": ["a.io/two", "a.io/three"]}},
        lambda r: r["metadata"]["finalizers"] == ["a.io/one", "a.io/two", "a.io/three"],
    ),
    (
        "a new primitive goes before live-only ones, as upstream orders it",
        {"metadata": {"finalizers": ["a.io/zero"]}},
        lambda r: r["metadata"]["finalizers"] == ["a.io/zero", "a.io/one", "a.io/two"],
    ),
    (
        "$deleteFromPrimitiveList",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.io/one"]}},
        lambda r: r["metadata"]["finalizers"] == ["a.io/two"],
    ),
    (
        "$setElementOrder on a primitive list",
        {
            "metadata": {
                "$setElementOrder/finalizers": ["a.io/two", "a.io/new", "a.io/one"],
                "finalizers": ["a.io/new"],
            }
        },
        lambda r: r["metadata"]["finalizers"] == ["a.io/two", "a.io/new", "a.io/one"],
    ),
    (
        "ownerReferences merge by uid",
        {
            "metadata": {
                "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u1", "controller": True}]
            }
        },
        lambda r: (
            r["metadata"]["ownerReferences"]
            == [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u1", "controller": True}]
        ),
    ),
    (
        "new fields are taken without nulls or directives",
        {
            "spec": {
                "affinity": {"nodeAffinity": None, "podAffinity": {"$patch": "replace"}},
                "containers": [{"name": "n", "image": "i", "workingDir": None}],
            }
        },
        lambda r: r["spec"]["affinity"] == {"podAffinity": {}} and containers(r)[0] == {"name": "n", "image": "i"},
    ),
    (
        "unknown fields merge like a JSON merge patch",
        {"spec": {"x-unknown": {"a": 1}}, "status": {"weird": [1, 2]}},
        lambda r: r["spec"]["x-unknown"] == {"a": 1} and r["status"]["weird"] == [1, 2],
    ),
    ("top-level $patch replace", {"$patch": "replace", "kind": "Pod"}, lambda r: r == {"kind": "Pod"}),
]


@pytest.mark.parametrize(("description", "patch", "check"), CASES, ids=[c[0] for c in CASES])
def test_pod_patches(description: str, patch: dict[str, Any], check: Any) -> None:
    original = pod()
    before = copy.deepcopy(original)
    patch_before = copy.deepcopy(patch)
    result = apply_strategic_patch(original, patch, POD_SCHEMA)
    assert check(result), result
    assert original == before, "original must not be mutated"
    assert patch == patch_before, "patch must not be mutated"
    assert not any(k.startswith("$") for k in _all_keys(result))


def _all_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [k for v in value.values() for k in _all_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _all_keys(v)]
    return []


def test_finalizer_merge_order_matches_upstream() -> None:
    result = apply_strategic_patch(pod(), {"metadata": {"finalizers": ["a.io/two", "a.io/three"]}}, POD_SCHEMA)
    # patch items keep patch order; live-only items interleave by live position
    assert result["metadata"]["finalizers"] == ["a.io/one", "a.io/two", "a.io/three"]


def test_deployment_strategy_retain_keys() -> None:
    deployment = {
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}},
        }
    }
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    result = apply_strategic_patch(deployment, patch, DEPLOYMENT_SCHEMA)
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    patch2 = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}
    assert apply_strategic_patch(deployment, patch2, DEPLOYMENT_SCHEMA)["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "a:2"}
    ]


def test_kubectl_apply_style_patch() -> None:
    """The shape kubectl's client-side apply sends after editing a manifest."""
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [
                {
                    "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                    "name": "app",
                    "env": [{"name": "B", "value": "two"}],
                    "image": "app:3",
                }
            ],
        },
    }
    result = apply_strategic_patch(pod(), patch, POD_SCHEMA)
    assert [c["name"] for c in containers(result)] == ["app", "sidecar"]
    assert containers(result)[0]["image"] == "app:3"
    assert containers(result)[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}]


def test_no_schema_is_json_merge() -> None:
    result = apply_strategic_patch({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"b": None, "c": [2]}}, None)
    assert result == {"a": {"c": [2]}, "d": 1}


def test_configmap_data_merges() -> None:
    schema = definitions.definition_for("", "v1", "ConfigMap")
    cm = {"data": {"a": "1", "b": "2"}}
    assert apply_strategic_patch(cm, {"data": {"a": None, "c": "3"}}, schema) == {"data": {"b": "2", "c": "3"}}


@pytest.mark.parametrize(
    ("patch", "error", "message"),
    [
        (
            {"spec": {"containers": [{"image": "x"}]}},
            errors.BadRequest,
            "map: map[image:x] does not contain declared merge key: name",
        ),
        (
            {"spec": {"containers": [{"$patch": "merge"}]}},
            errors.BadRequest,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            {"spec": {"nodeSelector": {"$patch": "frob"}}},
            errors.BadRequest,
            "unknown patch type: frob in map: map[$patch:frob]",
        ),
        (
            {"spec": {"volumes": [{"name": "data", "$retainKeys": "name"}]}},
            errors.BadRequest,
            "invalid patch format of retainKeys",
        ),
        (
            {"spec": {"$setElementOrder/containers": "x"}},
            errors.BadRequest,
            "invalid patch type of setElementOrder list",
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}},
            errors.BadRequest,
            "invalid patch format of primitive list",
        ),
        (
            {"metadata": {"finalizers": [["nested"]]}},
            errors.Invalid,
            "the server rejected our request due to an error in our request",
        ),
    ],
)
def test_errors(patch: dict[str, Any], error: type[errors.StatusError], message: str) -> None:
    with pytest.raises(error) as exc:
        apply_strategic_patch(pod(), patch, POD_SCHEMA)
    assert exc.value.message == message


def test_patch_must_be_an_object() -> None:
    with pytest.raises(errors.BadRequest):
        apply_strategic_patch(pod(), [1], POD_SCHEMA)
