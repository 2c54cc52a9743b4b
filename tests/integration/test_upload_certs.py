"""kubeadm-certs against an in-process HTTPS API server with RBAC, bootstrap tokens and the controllers.

An admin uploads the control-plane keys encrypted with a certificate key; a
joining control plane, holding only a bootstrap token of the default node
group, downloads and decrypts them — and may read no other Secret. A wrong
key is refused and writes nothing. The Secret is owned by a short-lived token:
when that token goes, the garbage collector takes the keys with it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.integration.test_join_discovery import Joinable, _signed_token, cluster  # noqa: F401 (fixture)

from pinnace.adm import uploadcerts
from pinnace.adm.certs import certificate_key
from pinnace.adm.pki import ECDSA_P256, PKIConfig, create_pki
from pinnace.adm.tokens import DEFAULT_GROUP, list_tokens
from pinnace.api import errors
from pinnace.api.bootstraptoken import BootstrapToken
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.client.tls import TLSConfig, build_ssl_context

SECRETS = ResourceRef("", "v1", "secrets")


def _as_token(joinable: Joinable, token: BootstrapToken) -> RestClient:
    tls = build_ssl_context(TLSConfig(ca=joinable.ca_pem))
    return RestClient(f"https://{joinable.endpoint}", token=token.token, ssl_context=tls)


async def test_a_joining_control_plane_downloads_the_keys(cluster: Joinable, tmp_path: Path) -> None:  # noqa: F811
    create_pki(tmp_path / "cp", PKIConfig(node_name="cp", etcd=True, encryption_algorithm=ECDSA_P256))
    key = certificate_key()
    (tmp_path / "cp" / "encryption-config.yaml").write_text("kind: EncryptionConfiguration\n")
    secret = await uploadcerts.upload_certs(cluster.admin, tmp_path / "cp", key)
    assert secret["type"] == "Opaque" and len(secret["data"]) == 9
    (owner,) = secret["metadata"]["ownerReferences"]
    assert owner["kind"] == "Secret" and owner["controller"] is True
    proxy = next(t for t in await list_tokens(cluster.admin) if t.secret_name == owner["name"])
    assert proxy.description == uploadcerts.TOKEN_DESCRIPTION and proxy.usages == ()
    assert proxy.expiration is not None

    token = await _signed_token(cluster, groups=(DEFAULT_GROUP,))
    joining = _as_token(cluster, token)
    try:
        with pytest.raises(uploadcerts.UploadCertsError, match="message authentication failed"):
            await uploadcerts.download_certs(joining, tmp_path / "wrong", certificate_key())
        assert not (tmp_path / "wrong").exists()
        written = await uploadcerts.download_certs(joining, tmp_path / "new", key)
        assert sorted(written) == sorted(uploadcerts.certs_to_transfer().values())
        for path in written:
            assert (tmp_path / "new" / path).read_bytes() == (tmp_path / "cp" / path).read_bytes()
        assert (tmp_path / "new" / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "new" / "encryption-config.yaml").stat().st_mode & 0o777 == 0o600
        with pytest.raises(errors.Forbidden):  # the Role names this one Secret
            await joining.get(SECRETS, token.secret_name, "kube-system")

        # Uploading again replaces the keys under a new token; when that token is deleted, the Secret goes too.
        secret = await uploadcerts.upload_certs(cluster.admin, tmp_path / "cp", key)
        owner_name = secret["metadata"]["ownerReferences"][0]["name"]
        await cluster.admin.delete(SECRETS, owner_name, "kube-system")
        for _ in range(200):
            try:
                await cluster.admin.get(SECRETS, uploadcerts.SECRET_NAME, "kube-system")
            except errors.NotFound:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(uploadcerts.UploadCertsError, match=r'Secret "kubeadm-certs" was not found.*expired'):
            await uploadcerts.download_certs(joining, tmp_path / "late", key)
    finally:
        await joining.close()
