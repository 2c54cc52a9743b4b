"""Webhook configurations, ValidatingAdmissionPolicies and bindings are checked when written, as upstream."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import validation

Obj = dict[str, Any]
GROUP = "admissionregistration.k8s.io"
RULE = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}


def _webhook(**fields: Any) -> Obj:
    return {
        "name": "check.example.com",
        "clientConfig": {"url": "https://hooks.example.com/check"},
        "rules": [RULE],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **fields,
    }


def _messages(kind: str, obj: Obj) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate(GROUP, kind, obj)]


def test_a_good_configuration_passes() -> None:
    good = {"webhooks": [_webhook(matchConditions=[{"name": "c", "expression": "object != null"}])]}
    assert _messages("ValidatingWebhookConfiguration", good) == []
    assert _messages("MutatingWebhookConfiguration", {"webhooks": [_webhook(reinvocationPolicy="IfNeeded")]}) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"name": "check"},
            'webhooks[0].name: Invalid value: "check": should be a domain with at least three segments',
        ),
        ({"sideEffects": None}, "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun"),
        ({"sideEffects": "Some"}, 'webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None"'),
        ({"admissionReviewVersions": []}, "webhooks[0].admissionReviewVersions: Required value"),
        ({"admissionReviewVersions": ["v2"]}, "must include at least one of v1, v1beta1"),
        ({"timeoutSeconds": 31}, "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1"),
        ({"failurePolicy": "Maybe"}, 'webhooks[0].failurePolicy: Unsupported value: "Maybe"'),
        ({"clientConfig": {}}, "webhooks[0].clientConfig: Required value: exactly one of url or service is required"),
        ({"clientConfig": {"url": "http://x.example.com"}}, "'https' is the only allowed URL scheme"),
        ({"clientConfig": {"service": {"name": "s"}}}, "webhooks[0].clientConfig.service.namespace: Required value"),
        (
            {"rules": [{**RULE, "operations": ["PATCH"]}]},
            'webhooks[0].rules[0].operations[0]: Unsupported value: "PATCH"',
        ),
        ({"rules": [{**RULE, "apiGroups": ["*", "apps"]}]}, "if '*' is present, must not specify other apiGroups"),
        ({"rules": [{**RULE, "scope": "Galaxy"}]}, 'webhooks[0].rules[0].scope: Unsupported value: "Galaxy"'),
        (
            {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
            "webhooks[0].namespaceSelector",
        ),
        (
            {"matchConditions": [{"name": "c", "expression": "object.("}]},
            'webhooks[0].matchConditions[0].expression: Invalid value: "object.(": compilation failed: ERROR:',
        ),
        ({"matchConditions": [{"name": "c", "expression": "authorizer.x"}]}, "undeclared reference to 'authorizer"),
    ],
)
def test_bad_webhooks_are_refused(fields: Obj, message: str) -> None:
    messages = _messages("ValidatingWebhookConfiguration", {"webhooks": [_webhook(**fields)]})
    assert any(message in m for m in messages), messages


def test_webhook_names_are_unique() -> None:
    messages = _messages("MutatingWebhookConfiguration", {"webhooks": [_webhook(), _webhook()]})
    assert messages == ['webhooks[1].name: Duplicate value: "check.example.com"']


def _policy(**spec: Any) -> Obj:
    return {"spec": {"matchConstraints": {"resourceRules": [RULE]}, "validations": [{"expression": "true"}], **spec}}


def test_policies() -> None:
    assert _messages("ValidatingAdmissionPolicy", _policy()) == []
    assert _messages("ValidatingAdmissionPolicy", _policy(validations=[])) == [
        "spec.validations: Required value: validations or auditAnnotations must contain at least one item"
    ]
    assert _messages("ValidatingAdmissionPolicy", {"spec": {"validations": [{"expression": "true"}]}}) == [
        "spec.matchConstraints: Required value"
    ]
    bad = _policy(
        failurePolicy="Sometimes",
        validations=[{"expression": "true", "reason": "Teapot", "messageExpression": "'a' +"}],
        variables=[
            {"name": "9lives", "expression": "1"},
            {"name": "x", "expression": "1"},
            {"name": "x", "expression": "2"},
        ],
        paramKind={"kind": "ConfigMap"},
    )
    messages = _messages("ValidatingAdmissionPolicy", bad)
    assert 'spec.failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore"' in messages
    assert any(m.startswith("spec.validations[0].messageExpression: Invalid value") for m in messages)
    assert any(m.startswith('spec.validations[0].reason: Unsupported value: "Teapot"') for m in messages)
    assert 'spec.variables[0].name: Invalid value: "9lives": name is not a valid CEL identifier' in messages
    assert 'spec.variables[2].name: Duplicate value: "x"' in messages
    assert "spec.paramKind.apiVersion: Required value" in messages


def test_bindings() -> None:
    good = {"spec": {"policyName": "p", "validationActions": ["Deny", "Audit"]}}
    assert _messages("ValidatingAdmissionPolicyBinding", good) == []
    messages = _messages(
        "ValidatingAdmissionPolicyBinding",
        {"spec": {"validationActions": ["Deny", "Warn", "Deny"], "paramRef": {"name": "a", "selector": {}}}},
    )
    assert "spec.policyName: Required value" in messages
    assert 'spec.validationActions[2]: Duplicate value: "Deny"' in messages
    assert any("must not contain both Deny and Warn" in m for m in messages)
    assert "spec.paramRef.name: Forbidden: name and selector are mutually exclusive" in messages
    assert "spec.paramRef.parameterNotFoundAction: Required value" in messages
    neither = _messages(
        "ValidatingAdmissionPolicyBinding",
        {"spec": {"policyName": "p", "validationActions": ["Deny"], "paramRef": {"parameterNotFoundAction": "Deny"}}},
    )
    assert neither == ["spec.paramRef: Required value: one of name or selector must be specified"]
