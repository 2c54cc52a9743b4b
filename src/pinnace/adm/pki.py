"""The ``certs`` phase: a cluster's certificate authorities, certificates and keys, as kubeadm lays them out.

Under ``DATA_DIR/pki`` (kubeadm's ``/etc/kubernetes/pki``):

=============================  =================================  ==========================================
file                           subject                            use
=============================  =================================  ==========================================
ca.crt/key                     CN=kubernetes                      cluster CA, 10 years
apiserver.crt/key              CN=kube-apiserver                  serving; SANs below, 1 year
apiserver-kubelet-client       CN=kube-apiserver-kubelet-client,  the API server's client cert to kubelets
                               O=kubeadm:cluster-admins
front-proxy-ca.crt/key         CN=front-proxy-ca                  request-header CA, 10 years
front-proxy-client.crt/key     CN=front-proxy-client              the aggregator's client cert
sa.key / sa.pub                —                                  service-account token signing pair (RSA)
etcd/ca, etcd/server, …        (only with ``etcd=True``)          stacked etcd's CA, serving, peer, clients
=============================  =================================  ==========================================

The API server's SANs are kubeadm's: ``kubernetes``, ``kubernetes.default``,
``kubernetes.default.svc``, ``kubernetes.default.svc.cluster.local``,
``localhost``, the host's name, ``127.0.0.1``, the advertise address, the first
IP of the service range and any extra names given.

Files that exist and are still good — the key matches, the certificate is
signed by the current CA, is not expired and (for serving certificates) covers
every wanted SAN — are kept; anything else is made anew. Keys are RSA 2048 as
kubeadm's default; ``ECDSA-P256`` (kubeadm's ``encryptionAlgorithm``) is an
option. The service-account key is always RSA, because tokens are RS256; an
``sa.key`` left at the top of an older data directory moves into ``pki/``.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.api import sakeys

__all__ = [
    "CA_VALIDITY",
    "CERT_VALIDITY",
    "ETCD_CERTS",
    "PKI",
    "STANDARD_CERTS",
    "CertPair",
    "PKIConfig",
    "apiserver_sans",
    "create_pki",
    "ensure_ca",
    "ensure_cert",
    "ensure_sa_key",
    "issue",
    "load_pair",
]

log = logging.getLogger(__name__)

CA_VALIDITY = datetime.timedelta(days=3650)
CERT_VALIDITY = datetime.timedelta(days=365)
#: Certificates start a little in the past, so a peer whose clock is behind accepts them at once.
BACKDATE = datetime.timedelta(minutes=5)
#: A certificate that expires within this is renewed instead of reused.
RENEW_BEFORE = datetime.timedelta(days=1)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_2048 = "RSA-2048"
ECDSA_P256 = "ECDSA-P256"
ALGORITHMS = (RSA_2048, ECDSA_P256)

#: The certificates the certs phase always makes (etcd's only on request).
STANDARD_CERTS = ("ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client")
#: The stacked-etcd certificates (``PKIConfig.etcd``).
ETCD_CERTS = ("etcd/ca", "etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client")

#: kubeadm ≥ 1.29: the admin's group, bound to cluster-admin by a ClusterRoleBinding (not system:masters).
CLUSTER_ADMINS_GROUP = "kubeadm:cluster-admins"


@dataclass(frozen=True, slots=True)
class CertPair:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The key in PEM (PKCS#1 for RSA, SEC1 for EC, as kubeadm writes them)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )


@dataclass(frozen=True, slots=True)
class CertSpec:
    """What one certificate says: subject, SANs, usages, lifetime."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False
    client: bool = False
    validity: datetime.timedelta = CERT_VALIDITY


@dataclass(frozen=True, slots=True)
class PKIConfig:
    """The inputs of the certs phase (kubeadm's ClusterConfiguration fields that shape the PKI)."""

    #: The node's name (kubeadm: the host name), in the apiserver and etcd SANs.
    node_name: str = field(default_factory=socket.gethostname)
    #: The API server's advertise address, in its SANs.
    advertise_address: str = "127.0.0.1"
    #: The first IP of the service range (the ``kubernetes`` Service's cluster IP).
    service_ip: str = "10.96.0.1"
    #: ``apiServer.certSANs``: extra DNS names or IP addresses.
    extra_sans: tuple[str, ...] = ()
    dns_domain: str = "cluster.local"
    #: Make the stacked-etcd certificates too.
    etcd: bool = False
    encryption_algorithm: str = RSA_2048


@dataclass(frozen=True, slots=True)
class PKI:
    """Where a cluster's PKI lives, and its two CAs, loaded."""

    dir: Path
    ca: CertPair
    front_proxy_ca: CertPair

    def path(self, name: str) -> tuple[Path, Path]:
        """The ``.crt`` and ``.key`` paths of a certificate by kubeadm name (``apiserver``, ``etcd/ca``, …)."""
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    @property
    def sa_key(self) -> Path:
        """The service-account signing key (``sa.key``)."""
        return self.dir / "sa.key"


def generate_key(algorithm: str = RSA_2048) -> PrivateKey:
    """A fresh private key of kubeadm's ``encryptionAlgorithm``."""
    if algorithm == RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown encryption algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_usage(*, ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def new_ca(common_name: str, key: PrivateKey, *, validity: datetime.timedelta = CA_VALIDITY) -> x509.Certificate:
    """A self-signed CA certificate (kubeadm's ``NewSelfSignedCACert``)."""
    now = _now()
    name = _name(common_name)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def issue(spec: CertSpec, ca: CertPair, key: PrivateKey) -> x509.Certificate:
    """A certificate for ``key`` as ``spec`` says, signed by ``ca`` (never outliving it)."""
    now = _now()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if spec.server else []
    if spec.client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.common_name, spec.organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + spec.validity, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


# ---- files -------------------------------------------------------------------------------------------------------
def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, say: say which file (a write's error names none)
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_pair(crt: Path, key_path: Path, pair: CertPair) -> None:
    """Write a certificate (0644) and its key (0600), each atomically."""
    _write_atomic(key_path, pair.key_pem(), 0o600)
    _write_atomic(crt, pair.cert_pem(), 0o644)


def load_private_key(pem: bytes) -> PrivateKey:
    """A PEM private key we wrote ourselves.

    OpenSSL's consistency check of an RSA key costs ~40 ms, a tenth of a start-up: keys
    that the PKI phase wrote (0600, in its own directory) are trusted as they are.
    """
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("not an RSA or ECDSA private key")
    return key


def load_pair(crt: Path, key_path: Path) -> CertPair | None:
    """The certificate and key in these files, or None if either is missing, unreadable or they do not match."""
    try:
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        key = load_private_key(key_path.read_bytes())
    except (OSError, ValueError):
        return None
    if _spki(key.public_key()) != _spki(cert.public_key()):
        return None
    return CertPair(cert, key)


def _spki(public: object) -> bytes:
    assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` issued ``cert`` (names and signature)."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(ext.get_values_for_type(x509.DNSName)), {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}


def still_good(pair: CertPair, spec: CertSpec, ca: CertPair | None) -> bool:
    """Whether an existing certificate may be kept for ``spec``: same subject, signed by ``ca``, SANs, not expiring."""
    if pair.cert.subject != _name(spec.common_name, spec.organizations):
        return False
    if pair.cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    if ca is not None and not signed_by(pair.cert, ca.cert):
        return False
    dns, ips = _sans(pair.cert)
    wanted_ips = {str(ipaddress.ip_address(ip)) for ip in spec.ip_addresses}
    return set(spec.dns_names) <= dns and wanted_ips <= ips


def ensure_ca(pki_dir: Path, name: str, common_name: str, algorithm: str = RSA_2048) -> CertPair:
    """The CA ``name`` (``ca``, ``front-proxy-ca``, ``etcd/ca``): the one on disk if good, else a new one."""
    crt, key_path = pki_dir / f"{name}.crt", pki_dir / f"{name}.key"
    pair = load_pair(crt, key_path)
    if pair is not None and pair.cert.not_valid_after_utc - RENEW_BEFORE > _now():
        return pair
    if pair is not None:
        log.warning("the CA %s expires on %s; making a new one", crt, pair.cert.not_valid_after_utc)
    key = generate_key(algorithm)
    pair = CertPair(new_ca(common_name, key), key)
    write_pair(crt, key_path, pair)
    return pair


def ensure_cert(pki_dir: Path, name: str, spec: CertSpec, ca: CertPair, algorithm: str = RSA_2048) -> CertPair:
    """The certificate ``name`` signed by ``ca``: kept if still good for ``spec``, else issued anew."""
    crt, key_path = pki_dir / f"{name}.crt", pki_dir / f"{name}.key"
    pair = load_pair(crt, key_path)
    if pair is not None and still_good(pair, spec, ca):
        return pair
    if pair is not None:
        log.info("renewing %s: it no longer matches the cluster (CA, subject, SANs or expiry)", crt)
    key = pair.key if pair is not None else generate_key(algorithm)
    pair = CertPair(issue(spec, ca, key), key)
    write_pair(crt, key_path, pair)
    return pair


def ensure_sa_key(pki_dir: Path, *, legacy: Path | None = None) -> Path:
    """``sa.key`` and ``sa.pub`` in ``pki_dir`` (RSA); ``legacy``: an older ``sa.key`` to move here first."""
    key_path = pki_dir / "sa.key"
    if legacy is not None and legacy.exists() and not key_path.exists():
        pki_dir.mkdir(parents=True, exist_ok=True)
        os.replace(legacy, key_path)
        log.info("moved the service-account key %s to %s", legacy, key_path)
    key = sakeys.load_or_generate(key_path)
    pub = pki_dir / "sa.pub"
    wanted = sakeys.public_pem(key)
    if not pub.exists() or pub.read_bytes() != wanted:
        _write_atomic(pub, wanted, 0o644)
    return key_path


# ---- the phase ---------------------------------------------------------------------------------------------------
def apiserver_sans(config: PKIConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The API server certificate's DNS names and IP addresses (kubeadm's ``GetAPIServerAltNames``)."""
    dns = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{config.dns_domain}",
        "localhost",
        config.node_name.lower(),
    ]
    ips = ["127.0.0.1", config.service_ip]
    for value in (config.advertise_address, *config.extra_sans):
        _add_san(value, dns, ips)
    return tuple(dict.fromkeys(dns)), tuple(dict.fromkeys(ips))


def _add_san(value: str, dns: list[str], ips: list[str]) -> None:
    if not value:
        return
    try:
        ips.append(str(ipaddress.ip_address(value)))
    except ValueError:
        dns.append(value)


def _etcd_specs(config: PKIConfig) -> dict[str, CertSpec]:
    dns, ips = ["localhost", config.node_name.lower()], ["127.0.0.1", "::1"]
    _add_san(config.advertise_address, dns, ips)
    dns, ips = list(dict.fromkeys(dns)), list(dict.fromkeys(ips))
    member = CertSpec(config.node_name.lower(), (), tuple(dns), tuple(ips), server=True, client=True)
    return {
        "etcd/server": member,
        "etcd/peer": member,
        "etcd/healthcheck-client": CertSpec("kube-etcd-healthcheck-client", client=True),
    }


def create_pki(data_dir: Path, config: PKIConfig | None = None) -> PKI:
    """Run the certs phase in ``data_dir``: every CA, certificate and key, made or kept (see the module doc)."""
    config = config or PKIConfig()
    algorithm = config.encryption_algorithm
    pki_dir = data_dir / "pki"
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca = ensure_ca(pki_dir, "ca", "kubernetes", algorithm)
    dns, ips = apiserver_sans(config)
    ensure_cert(pki_dir, "apiserver", CertSpec("kube-apiserver", (), dns, ips, server=True), ca, algorithm)
    kubelet_client = CertSpec("kube-apiserver-kubelet-client", (CLUSTER_ADMINS_GROUP,), client=True)
    ensure_cert(pki_dir, "apiserver-kubelet-client", kubelet_client, ca, algorithm)
    front_proxy_ca = ensure_ca(pki_dir, "front-proxy-ca", "front-proxy-ca", algorithm)
    ensure_cert(pki_dir, "front-proxy-client", CertSpec("front-proxy-client", client=True), front_proxy_ca, algorithm)
    ensure_sa_key(pki_dir, legacy=data_dir / "sa.key")
    if config.etcd:
        etcd_ca = ensure_ca(pki_dir, "etcd/ca", "etcd-ca", algorithm)
        for name, spec in _etcd_specs(config).items():
            ensure_cert(pki_dir, name, spec, etcd_ca, algorithm)
        etcd_client = CertSpec("kube-apiserver-etcd-client", client=True)
        ensure_cert(pki_dir, "apiserver-etcd-client", etcd_client, etcd_ca, algorithm)
    return PKI(pki_dir, ca, front_proxy_ca)
