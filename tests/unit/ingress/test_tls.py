"""Certificates by SNI: which context a server name gets, and Secrets that do not load."""

from __future__ import annotations

import base64

from tests.unit.ingress.objects import Obj

from pinnace.adm.pki import ECDSA_P256, CertPair, CertSpec, generate_key, issue, new_ca
from pinnace.ingress.routes import TLSRef
from pinnace.ingress.tls import CertificateStore, self_signed_pair


def secret(pair: CertPair, version: str = "1", kind: str = "kubernetes.io/tls") -> Obj:
    return {
        "metadata": {"name": "s", "namespace": "default", "resourceVersion": version},
        "type": kind,
        "data": {
            "tls.crt": base64.b64encode(pair.cert_pem()).decode(),
            "tls.key": base64.b64encode(pair.key_pem()).decode(),
        },
    }


def server_pair(host: str) -> CertPair:
    ca_key = generate_key(ECDSA_P256)
    ca = CertPair(new_ca("test-ca", ca_key), ca_key)
    key = generate_key(ECDSA_P256)
    return CertPair(issue(CertSpec(common_name=host, dns_names=(host,), server=True), ca, key), key)


def test_contexts_by_server_name() -> None:
    store = CertificateStore()
    good = secret(server_pair("a.example.com"))
    secrets = {"default/good": good, "default/wild": secret(server_pair("x.wild.com"))}
    store.update(
        {
            "a.example.com": TLSRef("default", "good", "default/ing"),
            "*.wild.com": TLSRef("default", "wild", "default/ing"),
            "default.example.com": TLSRef("default", "", "default/ing"),
        },
        secrets.get,
    )
    a = store.context_for("A.example.com.")
    assert a is not store.context
    assert store.context_for("x.wild.com") is not store.context and store.context_for("x.wild.com") is not a
    for name in ("default.example.com", "y.x.wild.com", "wild.com", None, ""):
        assert store.context_for(name) is store.context

    # Unchanged Secrets keep their context; a new version makes a new one.
    store.update({"a.example.com": TLSRef("default", "good", "default/ing")}, secrets.get)
    assert store.context_for("a.example.com") is a
    secrets["default/good"] = secret(server_pair("a.example.com"), version="2")
    store.update({"a.example.com": TLSRef("default", "good", "default/ing")}, secrets.get)
    assert store.context_for("a.example.com") is not a


def test_secrets_that_do_not_load_leave_the_default() -> None:
    store = CertificateStore()
    pair = server_pair("a.example.com")
    mismatched = secret(pair)
    mismatched["data"]["tls.key"] = secret(self_signed_pair("other", "other"))["data"]["tls.key"]
    secrets: dict[str, Obj] = {
        "default/opaque": secret(pair, kind="Opaque"),
        "default/garbage": {
            "metadata": {"resourceVersion": "1"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "!"},
        },
        "default/mismatched": mismatched,
    }
    for name in ("missing", "opaque", "garbage", "mismatched"):
        store.update({"a.example.com": TLSRef("default", name, "default/ing")}, secrets.get)
        assert store.context_for("a.example.com") is store.context, name
