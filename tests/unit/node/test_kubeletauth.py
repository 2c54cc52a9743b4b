"""The kubelet API's request attributes (path → nodes subresource, method → verb), its caches and serving cert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from tests.unit.fresh_interpreter import modules_loaded

from pinnace.node.kubeletauth import KubeletUser, TTLCache, is_subpath, request_attributes, user_from_peercert
from pinnace.node.kubeletcert import ensure_serving_cert
from pinnace.runtime.clock import FakeClock


@pytest.mark.parametrize(
    ("method", "path", "verb", "subresource"),
    [
        ("GET", "/stats/summary", "get", "stats"),
        ("GET", "/stats", "get", "stats"),
        ("GET", "/metrics", "get", "metrics"),
        ("GET", "/metrics/cadvisor", "get", "metrics"),
        ("GET", "/logs/", "get", "log"),
        ("GET", "/logs/syslog", "get", "log"),
        ("GET", "/spec/", "get", "spec"),
        ("POST", "/checkpoint/ns/pod/c", "create", "checkpoint"),
        ("POST", "/exec/ns/pod/c", "create", "proxy"),
        ("GET", "/exec/ns/pod/c", "get", "proxy"),
        ("POST", "/attach/ns/pod/c", "create", "proxy"),
        ("POST", "/portForward/ns/pod", "create", "proxy"),
        ("GET", "/containerLogs/ns/pod/c", "get", "proxy"),
        ("GET", "/pods", "get", "proxy"),
        ("GET", "/healthz", "get", "proxy"),
        ("GET", "/statsfoo", "get", "proxy"),  # a sibling of /stats is not under it
        ("PUT", "/x", "update", "proxy"),
        ("PATCH", "/x", "patch", "proxy"),
        ("DELETE", "/x", "delete", "proxy"),
        ("HEAD", "/pods", "", "proxy"),
    ],
)
def test_request_attributes(method: str, path: str, verb: str, subresource: str) -> None:
    attrs = request_attributes("n1", method, path)
    assert (attrs.verb, attrs.resource, attrs.subresource, attrs.name) == (verb, "nodes", subresource, "n1")


def test_is_subpath() -> None:
    assert is_subpath("/logs", "/logs/") and is_subpath("/logs/a/b", "/logs")
    assert not is_subpath("/logsx", "/logs")


def test_user_from_a_verified_certificate() -> None:
    cert = {"subject": ((("organizationName", "a"),), (("organizationName", "b"),), (("commonName", "jane"),))}
    assert user_from_peercert(cert) == KubeletUser("jane", groups=("a", "b"))
    assert user_from_peercert({"subject": ((("organizationName", "a"),),)}) is None


def test_user_from_a_token_review() -> None:
    info = {"username": "sa", "uid": "u1", "groups": ["g"], "extra": {"k": ["v"]}}
    assert KubeletUser.from_json(info) == KubeletUser("sa", "u1", ("g",), (("k", ("v",)),))


async def test_answers_expire_after_their_ttl() -> None:
    clock = FakeClock()
    cache: TTLCache[str, bool] = TTLCache(clock, max_entries=2)
    cache.put("allowed", True, 300)
    cache.put("denied", False, 30)
    await clock.advance(29.9)
    assert cache.get("allowed") is True and cache.get("denied") is False
    await clock.advance(0.2)
    assert cache.get("denied") is None and cache.get("allowed") is True
    cache.put("a", True, 10)
    cache.put("b", True, 10)  # full: the oldest goes
    assert cache.get("allowed") is None and cache.get("b") is True


def _sans(path: Path) -> tuple[list[str], list[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sans.get_values_for_type(x509.DNSName), [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]


def test_the_serving_certificate_is_kept_until_it_no_longer_fits(tmp_path: Path) -> None:
    crt, key = ensure_serving_cert(tmp_path, "n1", ["127.0.0.2"])
    assert _sans(crt) == (["n1"], ["127.0.0.2"])
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert cert.issuer == cert.subject  # self-signed
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    first = crt.read_bytes()
    assert ensure_serving_cert(tmp_path, "n1", ["127.0.0.2"]) == (crt, key)
    assert crt.read_bytes() == first  # kept across restarts
    ensure_serving_cert(tmp_path, "n1", ["127.0.0.3"])
    assert _sans(crt) == (["n1"], ["127.0.0.3"])  # the node moved: a new one
    key.unlink()
    ensure_serving_cert(tmp_path, "n1", ["127.0.0.3"])
    assert key.exists()


def test_a_restart_checks_its_certificate_without_loading_cryptography(tmp_path: Path) -> None:
    """The facts remembered beside the certificate spare a restarting agent ~14 MB of cryptography."""
    crt, _ = ensure_serving_cert(tmp_path, "n1", ["127.0.0.2"])
    assert json.loads((tmp_path / "kubelet.crt.facts").read_text())["dns"] == ["n1"]
    script = (
        "import sys; from pathlib import Path; from pinnace.node.kubeletcert import ensure_serving_cert; "
        "ensure_serving_cert(Path(sys.argv[1]), 'n1', ['127.0.0.2'])"
    )
    before = crt.read_bytes()
    assert "cryptography" not in modules_loaded(script, str(tmp_path))
    assert crt.read_bytes() == before
    (tmp_path / "kubelet.crt.facts").write_text('{"sha256": "of another certificate"}')  # not trusted: parsed again
    assert ensure_serving_cert(tmp_path, "n1", ["127.0.0.2"]) and crt.read_bytes() == before
