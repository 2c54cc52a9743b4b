"""CustomResourceDefinitions: defaults, validation, the resources they serve, and name conflicts."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from pinnace.api import crd, crd_openapi, crd_status
from pinnace.api.registry import builtin_infos


def make_crd(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}},
            }
        ],
    }
    spec.update(spec_overrides)
    obj = {"metadata": {"name": "crontabs.stable.example.com"}, "spec": spec}
    crd.set_defaults(obj)
    return obj


def _messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in crd.validate_crd(obj, old)]


def test_defaults() -> None:
    obj = make_crd()
    assert obj["spec"]["names"]["singular"] == "crontab"
    assert obj["spec"]["names"]["listKind"] == "CronTabList"
    assert obj["spec"]["conversion"] == {"strategy": "None"}
    assert _messages(obj) == []


def _version(name: str, *, served: bool = True, storage: bool = False) -> dict[str, Any]:
    return {"name": name, "served": served, "storage": storage, "schema": {"openAPIV3Schema": {"type": "object"}}}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda o: o["metadata"].update(name="crontab.stable.example.com"),
            'metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group',
        ),
        (
            lambda o: o["spec"].update(group="example"),
            'spec.group: Invalid value: "example": should be a domain with at least one dot',
        ),
        (
            lambda o: o["spec"].update(scope="Global"),
            'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
        ),
        (lambda o: o["spec"]["names"].pop("kind"), "spec.names.kind: Required value"),
        (
            lambda o: o["spec"]["names"].update(listKind="CronTab"),
            'spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same',
        ),
        (
            lambda o: o["spec"]["names"].update(singular="Cron_Tab"),
            'spec.names.singular: Invalid value: "Cron_Tab": a DNS-1035 label must consist of lower case alphanumeric '
            "characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
            "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        (
            lambda o: o["spec"].update(versions=[_version("v1", storage=True), _version("v1")]),
            'spec.versions: Invalid value: ["v1","v1"]: must contain unique version names',
        ),
        (
            lambda o: o["spec"].update(versions=[_version("v1"), _version("v2")]),
            'spec.versions: Invalid value: ["v1","v2"]: must have exactly one version marked as storage version',
        ),
        (
            lambda o: o["spec"].update(versions=[_version("v1", served=False, storage=True)]),
            'spec.versions: Invalid value: ["v1"]: must have at least one version marked as served',
        ),
        (
            lambda o: o["spec"]["versions"][0].pop("schema"),
            "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required",
        ),
        (
            lambda o: o["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].pop("type"),
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for "
            "specified object fields",
        ),
        (
            lambda o: o["spec"]["versions"][0].update(subresources={"scale": {"specReplicasPath": ".replicas"}}),
            'spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".replicas": should be a json path '
            "under .spec",
        ),
    ],
)
def test_invalid_crds(change: Any, expected: str) -> None:
    obj = make_crd()
    change(obj)
    assert expected in _messages(obj)


def test_scope_is_immutable() -> None:
    old = make_crd()
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    assert _messages(new, old) == ['spec.scope: Invalid value: "Cluster": field is immutable']


def test_resource_infos_per_served_version() -> None:
    obj = make_crd(
        versions=[
            {**_version("v1", storage=True), "subresources": {"status": {}}},
            _version("v1beta1"),
            _version("v1alpha1", served=False),
        ]
    )
    infos = crd.resource_infos(obj)
    assert [(i.version, i.storage_version, i.subresources) for i in infos] == [
        ("v1", "v1", ("status",)),
        ("v1beta1", "v1", ()),
    ]
    v1beta1 = infos[1]
    assert v1beta1.custom and v1beta1.namespaced and v1beta1.short_names == ("ct",)
    assert v1beta1.definition == "com.example.stable.v1beta1.CronTab"
    stored = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a"}}
    assert crd.to_version(v1beta1, stored)["apiVersion"] == "stable.example.com/v1beta1"
    assert crd.to_storage(v1beta1, {**stored, "apiVersion": "stable.example.com/v1beta1"}) == stored
    defs = crd_openapi.definitions(infos[0], "#/components/schemas/", v3=True)
    assert set(defs) == {"com.example.stable.v1.CronTab", "com.example.stable.v1.CronTabList"}
    assert defs["com.example.stable.v1.CronTab"]["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    ]


def test_names_held_by_another_crd_or_a_builtin_conflict() -> None:
    first = make_crd()
    first["status"] = {"acceptedNames": copy.deepcopy(first["spec"]["names"])}
    second = make_crd(names={"plural": "crontabs2", "kind": "CronTab2", "shortNames": ["ct"]})
    second["metadata"]["name"] = "crontabs2.stable.example.com"
    crd.set_defaults(second)
    names, condition = crd_status.name_conflicts(second, [first], [])
    assert condition == {
        "type": "NamesAccepted",
        "status": "False",
        "reason": "ShortNamesConflict",
        "message": '"ct" is already in use',
    }
    assert names["plural"] == "crontabs2"
    _, ok = crd_status.name_conflicts(first, [second], [])
    assert ok["status"] == "True" and ok["reason"] == "NoConflicts"
    apps = make_crd(group="apps.k8s.io", names={"plural": "deployments", "kind": "Deployment"})
    builtin = [dataclasses.replace(i, group="apps.k8s.io") for i in builtin_infos() if i.kind == "Deployment"]
    _, clash = crd_status.name_conflicts(apps, [], builtin)
    assert clash["reason"] == "ListKindConflict"  # as upstream, the last conflicting name says why


def _rules_version(schema: dict[str, Any]) -> crd.CustomVersion:
    obj = make_crd(versions=[{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}])
    cv = crd.custom_version(crd.resource_infos(obj)[0])
    assert cv is not None
    return cv


def test_root_rules_see_only_name_and_generate_name_of_the_metadata() -> None:
    root = _rules_version(
        {
            "type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.metadata.labels) && self.metadata.name == 'a'"}],
            "properties": {"spec": {"type": "object"}},
        }
    )
    cr = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "a", "labels": {"x": "y"}}}
    assert root.validate(cr, None) == []
    below = _rules_version(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-validations": [{"rule": "self.n < 3", "message": "too many"}],
                    "properties": {"n": {"type": "integer"}},
                }
            },
        }
    )
    assert below.validate({**cr, "spec": {"n": 2}}, None) == []
    assert [(c.field, c.message) for c in below.validate({**cr, "spec": {"n": 5}}, None)] == [
        ("spec", 'Invalid value: "object": too many')
    ]
