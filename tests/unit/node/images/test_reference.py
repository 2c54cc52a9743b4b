"""Image references normalise as Docker's reference library does."""

from __future__ import annotations

import pytest

from pinnace.node.images.reference import ReferenceError, parse_reference, sha256_digest

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("127.0.0.1:5000/team/app:v1.2", "127.0.0.1:5000/team/app:v1.2"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"quay.io/a/b:tag@{DIGEST}", f"quay.io/a/b:tag@{DIGEST}"),
    ],
)
def test_normalised_like_docker(text: str, full: str) -> None:
    assert str(parse_reference(text)) == full


def test_parts_and_familiar_form() -> None:
    ref = parse_reference("busybox")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("docker.io", "library/busybox", "latest", "")
    assert ref.api_host == "registry-1.docker.io"
    assert ref.familiar() == "busybox:latest"
    assert parse_reference("bitnami/redis:7").familiar() == "bitnami/redis:7"
    local = parse_reference("localhost:5000/app")
    assert local.api_host == "localhost:5000" and local.familiar() == "localhost:5000/app:latest"
    assert str(local.with_digest(DIGEST)) == f"localhost:5000/app@{DIGEST}"


def test_a_component_without_dot_or_colon_is_a_docker_hub_namespace() -> None:
    assert parse_reference("myregistry/app").domain == "docker.io"
    assert parse_reference("my.registry/app").domain == "my.registry"


@pytest.mark.parametrize(
    "text", ["", "Busybox", "busybox:", "busybox@sha256:abc", "a//b", " busybox", "busybox:-x", "-a/b", "a@md5:00"]
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(ReferenceError):
        parse_reference(text)


def test_without_default_tag() -> None:
    assert parse_reference("busybox", default_tag=False).tag == ""


def test_digest_of_bytes() -> None:
    assert sha256_digest(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
