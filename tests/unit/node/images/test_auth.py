"""Challenges, imagePullSecrets of both types, and the kubelet-style keyring."""

from __future__ import annotations

import base64

import orjson
import pytest

from pinnace.node.cri import RegistryAuth
from pinnace.node.images.auth import (
    CredentialError,
    Keyring,
    credentials,
    parse_www_authenticate,
    pull_secret_auths,
)
from pinnace.node.images.reference import parse_reference


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_bearer_challenge_with_commas_in_quotes() -> None:
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'
    )
    [challenge] = parse_www_authenticate(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:a/b:pull,push",
    }


def test_several_challenges_and_basic() -> None:
    challenges = parse_www_authenticate('Basic realm="Registry Realm", Bearer realm="x",error="invalid_token"')
    assert [(c.scheme, dict(c.params)) for c in challenges] == [
        ("basic", {"realm": "Registry Realm"}),
        ("bearer", {"realm": "x", "error": "invalid_token"}),
    ]
    assert parse_www_authenticate("basic realm=simple")[0].params == {"realm": "simple"}


def test_dockerconfigjson_secret() -> None:
    doc = {"auths": {"registry.example.com": {"auth": _b64(b"bob:s3cret:with:colons")}}}
    secret = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": _b64(orjson.dumps(doc))}}
    auths = pull_secret_auths(secret)
    assert credentials(auths["registry.example.com"]) == ("bob", "s3cret:with:colons")


def test_dockercfg_secret_and_other_types() -> None:
    doc = {"https://index.docker.io/v1/": {"username": "u", "password": "p", "email": "e@x"}}
    secret = {"type": "kubernetes.io/dockercfg", "data": {".dockercfg": _b64(orjson.dumps(doc))}}
    assert credentials(pull_secret_auths(secret)["https://index.docker.io/v1/"]) == ("u", "p")
    assert pull_secret_auths({"type": "Opaque", "data": {"x": "eQ=="}}) == {}
    broken = {"type": "kubernetes.io/dockercfg", "metadata": {"name": "s"}, "data": {".dockercfg": _b64(b"[")}}
    with pytest.raises(CredentialError, match="secret s"):
        pull_secret_auths(broken)


def test_keyring_matches_like_the_kubelet() -> None:
    hub, exact, glob, path = (RegistryAuth(username=n) for n in ("hub", "exact", "glob", "path"))
    ring = Keyring(
        [
            ("https://index.docker.io/v1/", hub),
            ("registry.example.com:5000", exact),
            ("*.example.com", glob),
            ("registry.example.com:5000/team", path),
        ]
    )

    def users(image: str) -> list[str]:
        return [a.username for a in ring.lookup(parse_reference(image))]

    assert users("busybox") == ["hub"]
    assert users("registry.example.com:5000/team/app") == ["path", "exact"]
    assert users("registry.example.com:5000/other/app") == ["exact"]
    assert users("eu.example.com/app") == ["glob"]
    assert users("a.b.example.com/app") == []  # a glob stands for one DNS label
    assert users("registry.example.com/app") == ["glob"]  # the port must match too
    assert users("quay.io/x/y") == []


def test_keyring_from_pull_secrets_in_order() -> None:
    def secret(user: str) -> dict[str, object]:
        doc = {"auths": {"quay.io": {"username": user, "password": "p"}}}
        return {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": _b64(orjson.dumps(doc))}}

    ring = Keyring.from_pull_secrets([secret("first"), secret("second")])
    assert [a.username for a in ring.lookup(parse_reference("quay.io/x/y"))] == ["first", "second"]
