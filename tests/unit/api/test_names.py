"""Metadata syntax rules, checked against upstream's wording."""

from __future__ import annotations

import random

import pytest

from pinnace.api import errors, names

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a", True),
        ("a-b", True),
        ("0", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("A", False),
        ("-a", False),
        ("a-", False),
        ("a.b", False),
        ("", False),
        ("a_b", False),
    ],
)
def test_dns1123_label(value: str, ok: bool) -> None:
    assert (names.is_dns1123_label(value) == []) is ok


def test_dns1123_label_messages() -> None:
    assert names.is_dns1123_label("Foo") == [LABEL_MSG]
    assert names.is_dns1123_label("a.b") == ["must not contain dots"]
    assert names.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("example.com", True),
        ("a", True),
        ("a..b", False),
        (".a", False),
        ("a.", False),
        ("Ex.com", False),
        ("a" * 253, True),
        ("a" * 254, False),
    ],
)
def test_dns1123_subdomain(value: str, ok: bool) -> None:
    assert (names.is_dns1123_subdomain(value) == []) is ok


def test_subdomain_message_matches_upstream() -> None:
    assert names.is_dns1123_subdomain("Bad_Name") == [SUBDOMAIN_MSG]


@pytest.mark.parametrize(
    ("value", "errs"),
    [
        ("ok:name", []),
        (".", ["may not be '.'"]),
        ("..", ["may not be '..'"]),
        ("a/b", ["may not contain '/'"]),
        ("a%b/", ["may not contain '/'", "may not contain '%'"]),
    ],
)
def test_path_segment(value: str, errs: list[str]) -> None:
    assert names.is_path_segment_name(value) == errs


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("app", True),
        ("App.Kubernetes_io-x", True),
        ("example.com/name", True),
        ("k8s.io/a", True),
        ("/name", False),
        ("example.com/", False),
        ("a/b/c", False),
        ("Example.com/x", False),
        ("-a", False),
        ("a" * 63, True),
        ("a" * 64, False),
        ("", False),
    ],
)
def test_qualified_name(value: str, ok: bool) -> None:
    assert (names.is_qualified_name(value) == []) is ok


def test_qualified_name_messages() -> None:
    assert names.is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("x/") == [
        "name part must be non-empty",
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]
    assert names.is_qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert names.is_qualified_name("Bad.com/x")[0].startswith("prefix part a lowercase RFC 1123 subdomain")


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("v1", True), ("a_b.c-d", True), ("-a", False), ("a b", False), ("x" * 64, False)],
)
def test_label_value(value: str, ok: bool) -> None:
    assert (names.is_valid_label_value(value) == []) is ok


def test_validate_object_meta_ok() -> None:
    meta = {
        "name": "web-1",
        "namespace": "default",
        "labels": {"app.kubernetes.io/name": "web"},
        "annotations": {"Example.com/Note": "x"},
        "finalizers": ["kubernetes.io/pv-protection", "foregroundDeletion"],
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1"}],
    }
    assert names.validate_object_meta(meta, namespaced=True, name_rule="subdomain") == []


def test_validate_object_meta_causes_and_message() -> None:
    causes = names.validate_object_meta({"name": "Bad_Name"}, namespaced=True, name_rule="subdomain")
    assert causes == [
        errors.Cause(errors.CAUSE_INVALID, f'Invalid value: "Bad_Name": {SUBDOMAIN_MSG}', "metadata.name"),
        errors.Cause(errors.CAUSE_REQUIRED, "Required value", "metadata.namespace"),
    ]
    err = errors.invalid("ConfigMap", "Bad_Name", causes)
    assert err.message.startswith('ConfigMap "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": ')


@pytest.mark.parametrize(
    ("meta", "namespaced", "rule", "field", "message"),
    [
        ({}, False, "subdomain", "metadata.name", "Required value: name or generateName is required"),
        ({"name": "a.b"}, False, "label", "metadata.name", 'Invalid value: "a.b": must not contain dots'),
        (
            {"name": "a", "namespace": "x"},
            False,
            "subdomain",
            "metadata.namespace",
            "Forbidden: not allowed on this type",
        ),
        ({"name": "a/b"}, False, "path", "metadata.name", "Invalid value: \"a/b\": may not contain '/'"),
        (
            {"name": "a", "namespace": "Bad"},
            True,
            "subdomain",
            "metadata.namespace",
            'Invalid value: "Bad": ' + LABEL_MSG,
        ),
        (
            {"name": "a", "generateName": "Web-"},
            False,
            "subdomain",
            "metadata.generateName",
            'Invalid value: "Web-": ' + SUBDOMAIN_MSG,
        ),
        (
            {"name": "a", "generation": -1},
            False,
            "subdomain",
            "metadata.generation",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            {"name": "a", "labels": {"k": "bad value"}},
            False,
            "subdomain",
            "metadata.labels",
            'Invalid value: "bad value": a valid label must be an empty string or consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        ({"name": "a", "finalizers": ["a/b/c"]}, False, "subdomain", "metadata.finalizers", None),
        (
            {"name": "a", "finalizers": ["orphan", "foregroundDeletion"]},
            False,
            "subdomain",
            "metadata.finalizers",
            'Invalid value: []string{"orphan", "foregroundDeletion"}: '
            "finalizer orphan and foregroundDeletion cannot be both set",
        ),
    ],
)
def test_validate_object_meta_table(
    meta: dict[str, object], namespaced: bool, rule: str, field: str, message: str | None
) -> None:
    causes = names.validate_object_meta(meta, namespaced=namespaced, name_rule=rule)
    assert [c.field for c in causes] == [field]
    if message is not None:
        assert causes[0].message == message


def test_generate_name_prefix_may_end_with_dash() -> None:
    assert names.validate_object_meta({"name": "web-x", "generateName": "web-"}, namespaced=False) == []


def test_annotation_size_limit() -> None:
    big = {"a": "x" * (256 * 1024 - 1)}
    assert names.validate_annotations(big) == []
    causes = names.validate_annotations({"a": "x" * (256 * 1024)})
    assert causes == [
        errors.Cause(errors.CAUSE_TOO_LONG, "Too long: may not be more than 262144 bytes", "metadata.annotations")
    ]


def test_annotation_keys_are_case_insensitive_but_checked() -> None:
    assert names.validate_annotations({"Example.COM/Key": "v"}) == []
    assert [c.field for c in names.validate_annotations({"bad key": "v"})] == ["metadata.annotations"]


@pytest.mark.parametrize(
    ("ref", "fields"),
    [
        ({"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}, []),
        ({"kind": "Pod", "name": "p", "uid": "u"}, ["metadata.ownerReferences.apiVersion"]),
        (
            {"apiVersion": "a/b/c", "kind": "Pod", "name": "p", "uid": "u"},
            ["metadata.ownerReferences.apiVersion"],
        ),
        ({"apiVersion": "v1", "name": "p", "uid": "u"}, ["metadata.ownerReferences.kind"]),
        ({"apiVersion": "v1", "kind": "Pod", "uid": "u"}, ["metadata.ownerReferences.name"]),
        ({"apiVersion": "v1", "kind": "Pod", "name": "p"}, ["metadata.ownerReferences.uid"]),
        ({"apiVersion": "v1", "kind": "Event", "name": "p", "uid": "u"}, ["metadata.ownerReferences"]),
    ],
)
def test_owner_reference_fields(ref: dict[str, str], fields: list[str]) -> None:
    assert [c.field for c in names.validate_owner_references([ref])] == fields


def test_only_one_controller() -> None:
    refs = [
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": True},
    ]
    causes = names.validate_owner_references(refs)
    assert len(causes) == 1
    assert causes[0].message.endswith('Found "true" in references for A/a and B/b')


def test_generate_name() -> None:
    rng = random.Random(7)
    name = names.generate_name("web-", rng)
    assert name.startswith("web-") and len(name) == 9
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")
    long = names.generate_name("x" * 300)
    assert len(long) == 63 and long.startswith("x" * 58)


def test_a_repeated_cause_shows_once_in_the_message_and_twice_in_the_causes() -> None:
    # upstream's ToAggregate drops a repeated "field: message" from the message, not from the causes
    twice = [errors.Cause(errors.CAUSE_REQUIRED, "Required value", "spec.attacher")] * 2
    err = errors.invalid("VolumeAttachment", "va", twice, group="storage.k8s.io")
    assert err.message == 'VolumeAttachment.storage.k8s.io "va" is invalid: spec.attacher: Required value'
    assert len(err.causes) == 2


def test_finalizers_without_a_domain_and_path_are_warned_of_once() -> None:
    meta = {"finalizers": ["ex.com/ok", "cleanup", "kubernetes", "orphan", "z.ex.com"]}
    message = "prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers"
    assert names.finalizer_warnings(meta) == [
        f'metadata.finalizers: "cleanup": {message}',
        f'metadata.finalizers: "z.ex.com": {message}',
    ]
    assert names.finalizer_warnings({"finalizers": [*meta["finalizers"], "more"]}, meta) == [
        f'metadata.finalizers: "more": {message}'
    ]
    assert names.finalizer_warnings({}, meta) == []
