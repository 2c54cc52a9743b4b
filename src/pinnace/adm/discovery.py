"""How a joining node learns which cluster it joins and trusts it: kubeadm's discovery.

**Token discovery** (``--token`` with ``--discovery-token-ca-cert-hash``): the
node reads the ``cluster-info`` ConfigMap of ``kube-public`` anonymously over
TLS it cannot verify yet, checks the ``jws-kubeconfig-<token-id>`` signature
the bootstrap signer made with the token it was given (so the ConfigMap came
from a cluster that knows the token), checks that the CA in it matches one of
the pinned SPKI hashes (so it is the cluster the admin meant), then reads the
ConfigMap again, now verifying the server with that CA, and requires the same
content. ``--discovery-token-unsafe-skip-ca-verification`` skips the pin (with
a warning), never the signature. **File discovery** (``--discovery-file``): a
kubeconfig file or HTTPS URL gives the cluster directly.

The result is the API server's address and its CA; everything after (the TLS
bootstrap) verifies the server with that CA.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pinnace.adm.tokens import ca_cert_hash
from pinnace.api import errors
from pinnace.api.bootstraptoken import CLUSTER_INFO, JWS_PREFIX, BootstrapToken, verify_detached_jws
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.client.tls import TLSConfig, build_ssl_context

__all__ = ["DiscoveredCluster", "DiscoveryError", "cluster_info", "discover_with_file", "discover_with_token"]

log = logging.getLogger(__name__)

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


class DiscoveryError(Exception):
    """Discovery failed; the message says why, in kubeadm's words where it has them."""


@dataclass(frozen=True, slots=True)
class DiscoveredCluster:
    """The API server a node joins, and the CA bundle that verifies it (PEM)."""

    server: str
    ca_pem: bytes


def _cluster_of(kubeconfig_text: str, source: str) -> DiscoveredCluster:
    try:
        config = yaml.safe_load(kubeconfig_text) or {}
        cluster = (config.get("clusters") or [{}])[0].get("cluster") or {}
        server = str(cluster["server"])
        ca_pem = base64.b64decode(cluster["certificate-authority-data"], validate=True)
    except (yaml.YAMLError, KeyError, IndexError, AttributeError, TypeError, binascii.Error) as exc:
        raise DiscoveryError(f"the kubeconfig in {source} has no usable cluster: {exc}") from None
    return DiscoveredCluster(server, ca_pem)


def _url(endpoint: str) -> str:
    return endpoint if "://" in endpoint else f"https://{endpoint}"


async def _read_cluster_info(endpoint: str, tls: TLSConfig, timeout: float) -> dict[str, str]:
    rest = RestClient(_url(endpoint), ssl_context=build_ssl_context(tls), timeout=timeout)
    try:
        config = await rest.get(CONFIGMAPS, CLUSTER_INFO, "kube-public")
    except errors.StatusError as exc:
        raise DiscoveryError(f"could not read the {CLUSTER_INFO} ConfigMap from {endpoint}: {exc}") from None
    except (aiohttp.ClientError, ssl.SSLError, OSError, TimeoutError) as exc:
        raise DiscoveryError(f"could not reach the API server at {endpoint}: {exc}") from None
    finally:
        await rest.close()
    return dict(config.get("data") or {})


async def discover_with_token(
    endpoint: str,
    token: str,
    ca_hashes: Sequence[str],
    *,
    unsafe_skip_ca_verification: bool = False,
    timeout: float = 10.0,
) -> DiscoveredCluster:
    """Find and trust the cluster at ``endpoint`` (host:port) with a bootstrap token and CA pins."""
    try:
        parsed = BootstrapToken.parse(token)
    except ValueError as exc:
        raise DiscoveryError(str(exc)) from None
    if not ca_hashes and not unsafe_skip_ca_verification:
        raise DiscoveryError(
            "using token-based discovery without --discovery-token-ca-cert-hash can be unsafe; "
            "pass --discovery-token-unsafe-skip-ca-verification to continue"
        )
    for pin in ca_hashes:
        if not pin.startswith("sha256:") or len(pin) != len("sha256:") + 64:
            raise DiscoveryError(
                f'invalid --discovery-token-ca-cert-hash "{pin}": expected "sha256:" and 64 hex digits'
            )
    data = await _read_cluster_info(endpoint, TLSConfig(insecure=True), timeout)
    content = data.get("kubeconfig")
    if content is None:
        raise DiscoveryError(f"there is no kubeconfig in the {CLUSTER_INFO} ConfigMap")
    signature = data.get(JWS_PREFIX + parsed.token_id)
    if signature is None:
        raise DiscoveryError(
            f'token id "{parsed.token_id}" is invalid for this cluster or it has expired. '
            'Use "pinnace adm token create" on the control-plane node to create a new valid token'
        )
    if not verify_detached_jws(signature, content, parsed.token_id, parsed.token_secret):
        raise DiscoveryError(
            "failed to verify JWS signature of received cluster info object, can't trust this API Server"
        )
    cluster = _cluster_of(content, f"the {CLUSTER_INFO} ConfigMap")
    if ca_hashes:
        found = _ca_hashes(cluster.ca_pem)
        if not set(found) & set(ca_hashes):
            raise DiscoveryError(
                f"cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
                f'"{", ".join(found)}" are pinned'
            )
    else:
        log.warning("WARNING: the cluster CA was not verified against a pinned hash (unsafe skip requested)")
    again = await _read_cluster_info(endpoint, TLSConfig(ca=cluster.ca_pem), timeout)
    if again.get("kubeconfig") != content:
        raise DiscoveryError("the cluster-info read again over verified TLS differs from the first one")
    return cluster


def _ca_hashes(ca_pem: bytes) -> list[str]:
    """The SPKI pins of every certificate in a CA bundle."""
    try:
        certs = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        return []
    return [ca_cert_hash(cert.public_bytes(serialization.Encoding.PEM)) for cert in certs]


async def discover_with_file(location: str, *, timeout: float = 10.0) -> DiscoveredCluster:
    """The cluster of a kubeconfig file, or of one at an HTTPS URL (verified with the system's CAs)."""
    if location.startswith("https://"):
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.get(location) as response,
            ):
                if response.status != 200:
                    raise DiscoveryError(f"{location} answered {response.status}")
                text = await response.text()
        except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            raise DiscoveryError(f"could not fetch {location}: {exc}") from None
        return _cluster_of(text, location)
    if location.startswith("http://"):
        raise DiscoveryError("a discovery URL must be HTTPS")
    try:
        text = Path(location).read_text()
    except OSError as exc:
        raise DiscoveryError(f"could not read the discovery file {location}: {exc}") from None
    return _cluster_of(text, location)


def cluster_info(server: str, ca_pem: bytes) -> dict[str, Any]:
    """The ``cluster-info`` ConfigMap ``adm init`` publishes in kube-public: a kubeconfig with no user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "", "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}
        ],
        "contexts": [],
        "current-context": "",
        "preferences": {},
        "users": [],
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CLUSTER_INFO, "namespace": "kube-public"},
        "data": {"kubeconfig": yaml.safe_dump(config, sort_keys=False)},
    }
