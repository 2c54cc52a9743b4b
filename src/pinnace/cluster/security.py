"""``pinnace up`` secure by default: kubeadm's certs and kubeconfig phases, HTTPS, authentication on.

:func:`cluster_pki` runs the certs phase in the data directory (the same
function ``pinnace adm init`` runs), with the listen address and the host's
name in the API server's certificate; :func:`secure_server` turns on the
authenticators on an :class:`~pinnace.apiserver.server.APIServer`, gives it
the kubelet client certificate it reaches kubelets with and the front-proxy
client certificate its aggregation layer presents to extension API servers
(with the ``extension-apiserver-authentication`` ConfigMap that tells them to
trust it), and gives the TLS context it serves with; :func:`write_kubeconfigs` runs the kubeconfig
phase once the port is known, and makes ``DATA_DIR/kubeconfig`` — the admin's
credentials under the context name ``pinnace``, what is merged into the user's
kubeconfig; local tools (``pinnace status``, readiness polling) reach the
server with those credentials through :func:`pinnace.client.load_client_config`.

Authorization is RBAC (switched on by ``LocalCluster`` with
:func:`~pinnace.apiserver.authz.enable_rbac`); a request without credentials is
``system:anonymous``, as with kube-apiserver's default ``--anonymous-auth``, and
RBAC lets it read only what ``system:public-info-viewer`` allows.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from pinnace.adm import kubeconfigs
from pinnace.adm.pki import ECDSA_P256, PKI, PKIConfig, create_pki
from pinnace.apiserver.aggregator import Aggregator
from pinnace.apiserver.authn import AuthenticationConfig, enable_authentication, serving_context
from pinnace.apiserver.extension_auth import ExtensionAuthentication
from pinnace.apiserver.proxy import KubeletProxy
from pinnace.apiserver.server import APIServer
from pinnace.client import kubeconfig

__all__ = [
    "ADMIN_KUBECONFIG",
    "SecurityConfig",
    "client_url",
    "cluster_pki",
    "secure_server",
    "write_kubeconfigs",
]

#: The file ``pinnace up`` writes for the user: admin credentials, context ``pinnace``.
ADMIN_KUBECONFIG = "kubeconfig"
_WILDCARD = ("", "0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """The security options of ``pinnace up`` (kube-apiserver's and kubeadm's flags of the same names)."""

    #: ``--token-auth-file``: static bearer tokens (CSV token,user,uid,"groups").
    token_auth_file: Path | None = None
    #: ``--apiserver-cert-extra-sans``: more names and addresses for the serving certificate.
    cert_sans: tuple[str, ...] = ()
    #: ``encryptionAlgorithm``: ECDSA-P256 or RSA-2048 (kubeadm's default). ``pinnace up`` uses ECDSA: on a fresh data
    #: directory the nine RSA keys cost 0.45 s on an idle 2-core machine and 1.1-1.8 s under load (ECDSA: 0.07-0.2 s,
    #: the RSA sa.key included), a quarter to most of the 2 s start budget. Existing files keep their algorithm.
    encryption_algorithm: str = ECDSA_P256
    #: ``--anonymous-auth``: requests without credentials are system:anonymous (on, as upstream: RBAC limits them to
    #: system:public-info-viewer's paths); off: they get 401.
    anonymous: bool = True
    #: ``--control-plane-endpoint`` (kubeadm's controlPlaneEndpoint, host:port): what admin.conf, super-admin.conf
    #: and cluster-info name, so users and joining nodes reach any API server of the cluster through it.
    control_plane_endpoint: str = ""

    def endpoint_url(self, url: str) -> str:
        """The URL users and joining nodes reach the cluster at: the control-plane endpoint's, else ``url``."""
        return f"https://{self.control_plane_endpoint}" if self.control_plane_endpoint else url


def client_url(scheme: str, host: str, port: int) -> str:
    """The URL clients use for a server listening on host:port (a wildcard address is reached on loopback)."""
    host = "127.0.0.1" if host in _WILDCARD else host
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


def cluster_pki(data_dir: Path, host: str, security: SecurityConfig, service_cidr: str = "10.96.0.0/12") -> PKI:
    """The certs phase for a server listening on ``host`` (its address and the service range's first IP go into the
    SANs)."""
    config = PKIConfig(
        advertise_address="" if host in _WILDCARD else host,
        service_ip=str(next(ipaddress.ip_network(service_cidr, strict=False).hosts())),
        extra_sans=security.cert_sans,
        encryption_algorithm=security.encryption_algorithm,
    )
    return create_pki(data_dir, config)


def secure_server(server: APIServer, pki: PKI, security: SecurityConfig) -> ssl.SSLContext:
    """Authenticate ``server``'s requests (no credentials: anonymous, unless turned off); its TLS context."""
    config = AuthenticationConfig(token_file=security.token_auth_file, anonymous=security.anonymous)
    enable_authentication(server, config)
    # --kubelet-client-certificate/-key: kubelets (HTTPS, webhook authn/authz) see kube-apiserver-kubelet-client.
    server.kubelets = KubeletProxy(server.rest, client_cert=pki.path("apiserver-kubelet-client"))
    server.subresource_handlers.update(server.kubelets.handlers())
    # --proxy-client-cert-file/-key-file and --requestheader-client-ca-file: extension API servers see the
    # front-proxy-client certificate, and read whom to trust from kube-system/extension-apiserver-authentication.
    authentication = ExtensionAuthentication(
        server.rest, client_ca=pki.path("ca")[0], requestheader_ca=pki.path("front-proxy-ca")[0]
    )
    server.aggregator = Aggregator(
        server.rest,
        server.discovery,
        proxy_client_cert=pki.path("front-proxy-client"),
        authentication=authentication,
    )
    crt, key = pki.path("apiserver")
    return serving_context(crt, key, client_ca_file=pki.path("ca")[0])


def write_kubeconfigs(data_dir: Path, pki: PKI, url: str, security: SecurityConfig) -> Path:
    """The kubeconfig phase at ``url``, and ``DATA_DIR/kubeconfig`` (the admin's, as context ``pinnace``)."""
    endpoint = security.endpoint_url(url)
    written = kubeconfigs.create_kubeconfigs(data_dir, pki, url, security.encryption_algorithm, endpoint=endpoint)
    admin = kubeconfig.load(written["admin.conf"])
    own = data_dir / ADMIN_KUBECONFIG
    kubeconfig.write(own, kubeconfigs.renamed(admin, "pinnace"))
    return own
