"""Server-side apply on plain dicts: merge, ownership, pruning, conflicts, force — one table of scenarios.

Each scenario is a sequence of writes to one object (applies by a manager, or
plain updates recorded as the Update operation), each followed by what the
object and its managedFields must look like, or by the 409 it must get.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from pinnace.api import apply, crd, errors, managedfields, strategy
from pinnace.api.fieldtypes import root_type
from pinnace.api.registry import ResourceInfo, builtin_registry

Obj = dict[str, Any]
REGISTRY = builtin_registry()
DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
CONFIGMAPS = REGISTRY.get("", "v1", "configmaps")
assert DEPLOYMENTS is not None and CONFIGMAPS is not None


def deployment(replicas: int | None = 2, containers: list[Obj] | None = None, **spec: Any) -> Obj:
    """An apply configuration of a Deployment ``web``."""
    body: Obj = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers if containers is not None else [{"name": "web", "image": "nginx"}]},
        },
        **spec,
    }
    if replicas is not None:
        body["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": body}


def configmap(data: Obj | None = None, **meta: Any) -> Obj:
    """An apply configuration of a ConfigMap ``cm``."""
    out: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", **meta}}
    if data is not None:
        out["data"] = data
    return out


@dataclass
class Step:
    """One write: an apply by ``manager`` (or, with ``update``, a plain update to that object)."""

    manager: str
    config: Obj | None = None
    update: Obj | None = None
    force: bool = False
    subresource: str | None = None
    conflict: str | None = None  # expected 409 message
    expect: dict[str, Any] = field(default_factory=dict)  # dotted path -> value (None: absent)
    owns: dict[str, set[str]] = field(default_factory=dict)  # manager -> paths it must own (path_string form)
    disowns: dict[str, set[str]] = field(default_factory=dict)  # manager -> paths it must not own


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)] if int(part) < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def _owned(obj: Obj) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for entry in managedfields.decode_entries(obj["metadata"].get("managedFields") or []) or []:
        name = entry.manager + (f"/{entry.subresource}" if entry.subresource else "")
        out.setdefault(name, set()).update(managedfields.path_string(p) for p in entry.fields)
    return out


def run(info: ResourceInfo, steps: list[Step]) -> Obj | None:
    """Play the steps; return the final object."""
    live: Obj | None = None
    for i, step in enumerate(steps):
        now = f"2024-01-01T00:00:{i:02d}Z"
        if step.update is not None:
            assert live is not None
            new = copy.deepcopy(step.update)
            new["metadata"] = {**live["metadata"], **new.get("metadata", {})}
            managedfields.track_update(info, live, new, step.manager, subresource=step.subresource, now=now)
            live = new
        else:
            assert step.config is not None
            if step.conflict is not None:
                with pytest.raises(errors.Conflict) as caught:
                    apply.apply(info, live, step.config, step.manager, force=step.force, now=now)
                assert caught.value.message == step.conflict
                continue
            result = apply.apply(
                info, live, step.config, step.manager, force=step.force, subresource=step.subresource, now=now
            )
            if live is None:
                strategy.decode(info, result)
            live = result
        for dotted, value in step.expect.items():
            assert _get(live, dotted) == value, (i, dotted)
        owned = _owned(live)
        for manager, paths in step.owns.items():
            assert paths <= owned.get(manager, set()), (i, manager, paths - owned.get(manager, set()))
        for manager, paths in step.disowns.items():
            assert not paths & owned.get(manager, set()), (i, manager, paths & owned.get(manager, set()))
    return live


WEB_NGINX = '.spec.template.spec.containers[name="web"]'

SCENARIOS: dict[str, tuple[ResourceInfo, list[Step]]] = {
    "create via apply": (
        DEPLOYMENTS,
        [
            Step(
                "a",
                deployment(),
                expect={"spec.replicas": 2, "spec.template.spec.containers.0.image": "nginx"},
                owns={"a": {".spec.replicas", ".spec.selector", WEB_NGINX, f"{WEB_NGINX}.image"}},
            )
        ],
    ),
    "update an owned field": (
        DEPLOYMENTS,
        [Step("a", deployment()), Step("a", deployment(replicas=5), expect={"spec.replicas": 5})],
    ),
    "omitting an owned field removes it": (
        DEPLOYMENTS,
        [
            Step("a", deployment(minReadySeconds=5)),
            Step("a", deployment(), expect={"spec.minReadySeconds": None}, disowns={"a": {".spec.minReadySeconds"}}),
        ],
    ),
    "map list: add an item by key": (
        DEPLOYMENTS,
        [
            Step("a", deployment()),
            Step(
                "a",
                deployment(containers=[{"name": "web", "image": "nginx"}, {"name": "side", "image": "busybox"}]),
                expect={"spec.template.spec.containers.1.name": "side"},
                owns={"a": {'.spec.template.spec.containers[name="side"]'}},
            ),
        ],
    ),
    "map list: remove an item by omitting it": (
        DEPLOYMENTS,
        [
            Step("a", deployment(containers=[{"name": "web", "image": "nginx"}, {"name": "side", "image": "busybox"}])),
            Step(
                "a",
                deployment(),
                expect={"spec.template.spec.containers.1": None, "spec.template.spec.containers.0.name": "web"},
                disowns={"a": {'.spec.template.spec.containers[name="side"]'}},
            ),
        ],
    ),
    "map list with two keys and a defaulted key": (
        DEPLOYMENTS,
        [
            Step(
                "a",
                deployment(containers=[{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]),
                owns={"a": {f'{WEB_NGINX}.ports[containerPort=80,protocol="TCP"].containerPort'}},
            )
        ],
    ),
    "set list: items by value": (
        CONFIGMAPS,
        [
            Step("a", configmap(finalizers=["x/a", "x/b"]), owns={"a": {'.metadata.finalizers[="x/a"]'}}),
            Step("b", configmap(finalizers=["x/c"]), expect={"metadata.finalizers": ["x/a", "x/b", "x/c"]}),
            Step("a", configmap(finalizers=["x/b"]), expect={"metadata.finalizers": ["x/b", "x/c"]}),
        ],
    ),
    "atomic list: replaced whole, owned as one field": (
        DEPLOYMENTS,
        [
            Step(
                "a",
                deployment(containers=[{"name": "web", "image": "nginx", "args": ["a", "b"]}]),
                owns={"a": {f"{WEB_NGINX}.args"}},
            ),
            Step(
                "a",
                deployment(containers=[{"name": "web", "image": "nginx", "args": ["c"]}]),
                expect={"spec.template.spec.containers.0.args": ["c"]},
            ),
            Step(
                "b",
                deployment(replicas=None, containers=[{"name": "web", "args": ["d"]}]),
                conflict=f'Apply failed with 1 conflict: conflict with "a": {WEB_NGINX}.args',
            ),
        ],
    ),
    "two managers: a conflict names the field and the manager": (
        DEPLOYMENTS,
        [
            Step("a", deployment()),
            Step(
                "b", deployment(replicas=3), conflict='Apply failed with 1 conflict: conflict with "a": .spec.replicas'
            ),
        ],
    ),
    "several conflicts are listed per manager": (
        CONFIGMAPS,
        [
            Step("a", configmap({"x": "1", "y": "1"})),
            Step(
                "b",
                configmap({"x": "2", "y": "2"}),
                conflict='Apply failed with 2 conflicts: conflicts with "a":\n- .data.x\n- .data.y',
            ),
        ],
    ),
    "force takes ownership": (
        DEPLOYMENTS,
        [
            Step("a", deployment()),
            Step(
                "b",
                deployment(replicas=3),
                force=True,
                expect={"spec.replicas": 3},
                owns={"b": {".spec.replicas"}},
                disowns={"a": {".spec.replicas"}},
            ),
        ],
    ),
    "the same value is shared ownership, and survives one owner letting go": (
        CONFIGMAPS,
        [
            Step("a", configmap({"x": "1"})),
            Step("b", configmap({"x": "1"}), owns={"a": {".data.x"}, "b": {".data.x"}}),
            Step("a", configmap(), expect={"data.x": "1"}, disowns={"a": {".data.x"}}),
            Step("b", configmap(), expect={"data.x": None}),
        ],
    ),
    "an Update takes what it changes, and conflicts with a later apply": (
        DEPLOYMENTS,
        [
            Step("a", deployment()),
            Step(
                "kubectl-edit",
                update=dict(deployment(replicas=7)),
                owns={"kubectl-edit": {".spec.replicas"}},
                disowns={"a": {".spec.replicas"}},
            ),
            Step(
                "a",
                deployment(replicas=2),
                conflict='Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas',
            ),
        ],
    ),
    "an apply through /status owns only the status": (
        DEPLOYMENTS,
        [
            Step("a", deployment()),
            Step(
                "ctrl",
                {**deployment(replicas=9), "status": {"replicas": 2}},
                subresource="status",
                owns={"ctrl/status": {".status.replicas"}},
                disowns={"ctrl/status": {".spec.replicas"}},
            ),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    info, steps = SCENARIOS[name]
    run(info, steps)


def test_created_object_has_one_apply_entry_in_upstream_form() -> None:
    obj = apply.apply(CONFIGMAPS, None, configmap({"a": "b"}, labels={"app": "x"}), "kubectl", now="T")
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "T",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}},
        }
    ]


def test_a_no_op_apply_changes_nothing_not_even_the_time() -> None:
    first = apply.apply(CONFIGMAPS, None, configmap({"a": "b"}), "m", now="T1")
    again = apply.apply(CONFIGMAPS, first, configmap({"a": "b"}), "m", now="T2")
    assert again == first


def test_create_records_the_creator_as_update_with_upstream_members() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}}
    strategy.prepare_for_create(CONFIGMAPS, obj)
    managedfields.track_create(CONFIGMAPS, obj, "kubectl-create", now="T")
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "T",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:k": {}},
                "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
            },
        }
    ]


def test_managed_fields_reset_by_a_single_empty_entry() -> None:
    old = apply.apply(CONFIGMAPS, None, configmap({"a": "b"}), "m", now="T")
    new = copy.deepcopy(old)
    new["metadata"]["managedFields"] = [{}]
    managedfields.track_update(CONFIGMAPS, old, new, "x", now="T2")
    assert "managedFields" not in new["metadata"]


def test_an_update_without_managed_fields_keeps_the_live_ones() -> None:
    old = apply.apply(CONFIGMAPS, None, configmap({"a": "b"}), "m", now="T")
    new = copy.deepcopy(old)
    del new["metadata"]["managedFields"]
    new["data"]["c"] = "d"
    managedfields.track_update(CONFIGMAPS, old, new, "x", now="T2")
    owned = _owned(new)
    assert owned == {"m": {".data.a"}, "x": {".data.c"}}


def test_fields_v1_round_trip() -> None:
    fields = {
        "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
        "f:spec": {"f:list": {'k:{"name":"x"}': {".": {}, "f:v": {}}, 'v:"s"': {}}},
    }
    assert managedfields.encode_fields(managedfields.decode_fields(fields)) == fields
    # Upstream's PathElement order: fields, keys, values, then indexes by number.
    elements = [("f:s", pe) for pe in ("i:10", "i:2", 'v:"a"', "f:z", 'k:{"a":1}', "f:a")]
    encoded = list(managedfields.encode_fields(set(elements))["f:s"])
    assert encoded == ["f:a", "f:z", 'k:{"a":1}', 'v:"a"', "i:2", "i:10"]
    with pytest.raises(ValueError):
        managedfields.decode_fields({"x:bad": {}})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"apiVersion": "v2", "kind": "ConfigMap"}, "Incorrect version specified in apply patch"),
        ({"apiVersion": "v1", "kind": "Secret"}, "does not match the expected kind"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"managedFields": []}},
            "metadata.managedFields must be nil",
        ),
    ],
)
def test_bad_configurations_are_400(config: Obj, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        apply.check_config(CONFIGMAPS, config)


def test_custom_resource_lists_follow_the_structural_schema() -> None:
    crd_obj = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "ports": {
                                            "type": "array",
                                            "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["name"],
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "name": {"type": "string"},
                                                    "port": {"type": "integer"},
                                                },
                                            },
                                        },
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    crd.set_defaults(crd_obj)
    info = crd.resource_infos(crd_obj)[0]
    assert root_type(info).child("spec")[0] is not None

    def widget(ports: list[Obj], tags: list[str] | None = None) -> Obj:
        spec: Obj = {"ports": ports} if tags is None else {"ports": ports, "tags": tags}
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}

    live = run(info, [Step("a", widget([{"name": "http", "port": 80}], ["x"]))])
    assert live is not None
    merged = apply.apply(info, live, widget([{"name": "grpc", "port": 90}]), "b", now="T")
    assert [p["name"] for p in merged["spec"]["ports"]] == ["http", "grpc"]  # a map list merges by key
    with pytest.raises(errors.Conflict, match=r"conflict with \"a\": .spec.tags"):
        apply.apply(info, live, widget([], ["y"]), "b", now="T")  # a list without list-type is atomic
