"""``pinnace adm certs``: renew, check-expiration, certificate-key and generate-csr, as kubeadm's.

The certificates are the certs and kubeconfig phases' (:mod:`pinnace.adm.pki`,
:mod:`pinnace.adm.kubeconfigs`), by kubeadm's names: the leaf certificates
under ``DATA_DIR/pki`` and the client certificates embedded in the
``*.conf`` kubeconfigs. Renewal keeps each certificate's key, subject, SANs
and usages, and signs it again by the same CA for another year, as kubeadm's
renewal does; a certificate whose CA key is absent is *externally managed*
and cannot be renewed here. The running control plane reads its
certificates when it starts: it has to be restarted to serve the new ones.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.adm import pki
from pinnace.client import kubeconfig

__all__ = [
    "CAS",
    "CERTIFICATES",
    "CertInfo",
    "CertsError",
    "certificate_key",
    "check_expiration",
    "expiration_table",
    "generate_csrs",
    "renew",
    "short_duration",
]

Obj = dict[str, Any]


class CertsError(Exception):
    """A certificate could not be renewed or generated; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Managed:
    """One certificate kubeadm manages: where it lives, which CA signs it, and what it is for."""

    name: str
    ca: str
    purpose: str

    @property
    def in_kubeconfig(self) -> bool:
        """Whether it is embedded in a kubeconfig file rather than a ``.crt`` file."""
        return self.name.endswith(".conf")

    @property
    def etcd(self) -> bool:
        """Whether it belongs to the stacked etcd (made only when the cluster has one)."""
        return self.ca == "etcd-ca"


_IN_KUBECONFIG = "certificate embedded in the kubeconfig file for the"
#: kubeadm's certificates, in its order, with the CA that signs each and its renewal message.
CERTIFICATES = (
    Managed("admin.conf", "ca", f"{_IN_KUBECONFIG} admin to use and for kubeadm itself"),
    Managed("apiserver", "ca", "certificate for serving the Kubernetes API"),
    Managed("apiserver-etcd-client", "etcd-ca", "certificate the apiserver uses to access etcd"),
    Managed("apiserver-kubelet-client", "ca", "certificate for the API server to connect to kubelet"),
    Managed("controller-manager.conf", "ca", f"{_IN_KUBECONFIG} controller manager to use"),
    Managed("etcd-healthcheck-client", "etcd-ca", "certificate for liveness probes to healthcheck etcd"),
    Managed("etcd-peer", "etcd-ca", "certificate for etcd nodes to communicate with each other"),
    Managed("etcd-server", "etcd-ca", "certificate for serving etcd"),
    Managed("front-proxy-client", "front-proxy-ca", "certificate for the front proxy client"),
    Managed("scheduler.conf", "ca", f"{_IN_KUBECONFIG} scheduler manager to use"),
    Managed("super-admin.conf", "ca", f"{_IN_KUBECONFIG} super-admin"),
)  # fmt: skip
#: The CAs, by kubeadm name → file stem under pki/.
CAS = {"ca": "ca", "etcd-ca": "etcd/ca", "front-proxy-ca": "front-proxy-ca"}


def _stem(name: str) -> str:
    """The file stem under pki/ of a leaf certificate (``etcd-server`` is ``etcd/server``)."""
    return "etcd/" + name.removeprefix("etcd-") if name.startswith("etcd-") else name


@dataclass(frozen=True, slots=True)
class CertInfo:
    """A row of ``check-expiration``: one certificate or CA, or a missing one."""

    name: str
    expires: datetime.datetime | None
    ca: str
    externally_managed: bool


def _has_etcd(data_dir: Path) -> bool:
    return (data_dir / "pki" / "etcd" / "ca.crt").exists()


def _kubeconfig_user(config: Obj) -> Obj:
    users = config.get("users") or [{}]
    user: Obj = users[0].get("user") or {}
    return user


def _read_cert(data_dir: Path, managed: Managed) -> x509.Certificate | None:
    try:
        if managed.in_kubeconfig:
            user = _kubeconfig_user(kubeconfig.load(data_dir / managed.name))
            return x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        return x509.load_pem_x509_certificate((data_dir / "pki" / f"{_stem(managed.name)}.crt").read_bytes())
    except (OSError, ValueError, KeyError, TypeError, binascii.Error, AttributeError):
        return None


def _ca_external(data_dir: Path, ca: str) -> bool:
    """A CA whose key is not here is managed outside the cluster (kubeadm's external CA mode)."""
    return not (data_dir / "pki" / f"{CAS[ca]}.key").exists()


def check_expiration(data_dir: Path) -> tuple[list[CertInfo], list[CertInfo]]:
    """The certificates and the CAs of ``data_dir``, with their expiry (None: missing)."""
    etcd = _has_etcd(data_dir)
    certs = []
    for managed in CERTIFICATES:
        if managed.etcd and not etcd:
            continue
        cert = _read_cert(data_dir, managed)
        expires = cert.not_valid_after_utc if cert is not None else None
        certs.append(CertInfo(managed.name, expires, managed.ca, _ca_external(data_dir, managed.ca)))
    cas = []
    for name, stem in CAS.items():
        if name == "etcd-ca" and not etcd:
            continue
        try:
            ca_cert = x509.load_pem_x509_certificate((data_dir / "pki" / f"{stem}.crt").read_bytes())
            expires = ca_cert.not_valid_after_utc
        except (OSError, ValueError):
            expires = None
        cas.append(CertInfo(name, expires, "", _ca_external(data_dir, name)))
    return certs, cas


def short_duration(delta: datetime.timedelta) -> str:
    """apimachinery's ``ShortHumanDuration``: ``59s``, ``44m``, ``23h``, ``364d``, ``9y``, ``<invalid>``."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    hours = seconds // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{int(hours / 24 / 365)}y"


def _tabulate(rows: list[list[str]]) -> list[str]:
    """Go's tabwriter as kubeadm sets it up (min width 10, padding 3)."""
    widths = [max(10, max(len(row[i]) for row in rows) + 3) for i in range(len(rows[0]))]
    return ["".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def expiration_table(certs: list[CertInfo], cas: list[CertInfo], now: datetime.datetime | None = None) -> str:
    """``kubeadm certs check-expiration``'s two tables."""
    now = now or datetime.datetime.now(datetime.UTC)

    def when(info: CertInfo) -> list[str]:
        assert info.expires is not None
        return [info.expires.strftime("%b %d, %Y %H:%M UTC"), short_duration(info.expires - now)]

    yes_no = {True: "yes", False: "no"}
    rows = [["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "EXTERNALLY MANAGED"]]
    for info in certs:
        if info.expires is None:
            rows.append([f"!MISSING! {info.name}", "", "", "", ""])
        else:
            rows.append([info.name, *when(info), info.ca, yes_no[info.externally_managed]])
    ca_rows = [["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED"]]
    for info in cas:
        if info.expires is None:
            ca_rows.append([f"!MISSING! {info.name}", "", "", ""])
        else:
            ca_rows.append([info.name, *when(info), yes_no[info.externally_managed]])
    return "\n".join([*_tabulate(rows), "", *_tabulate(ca_rows)]) + "\n"


# ---- renewal -------------------------------------------------------------------------------------------------------
def _spec_of(cert: x509.Certificate) -> pki.CertSpec:
    """The CertSpec a certificate was made from: subject, SANs, usages (renewal keeps them)."""
    common_name = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    orgs = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(sans.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = set()
    return pki.CertSpec(
        common_name,
        orgs,
        dns,
        ips,
        server=ExtendedKeyUsageOID.SERVER_AUTH in usages,
        client=ExtendedKeyUsageOID.CLIENT_AUTH in usages,
    )


def _ca_pair(data_dir: Path, ca: str) -> pki.CertPair:
    stem = CAS[ca]
    pair = pki.load_pair(data_dir / "pki" / f"{stem}.crt", data_dir / "pki" / f"{stem}.key")
    if pair is None:
        raise CertsError(f"the {ca} key is not in {data_dir / 'pki'}: its certificates are externally managed")
    return pair


def _renew_kubeconfig(path: Path, ca: pki.CertPair) -> None:
    config = kubeconfig.load(path)
    user = _kubeconfig_user(config)
    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        key = pki.load_private_key(base64.b64decode(user["client-key-data"]))
    except (KeyError, ValueError, binascii.Error) as exc:
        raise CertsError(f"{path} has no client certificate to renew: {exc}") from None
    renewed = pki.CertPair(pki.issue(_spec_of(cert), ca, key), key)
    user["client-certificate-data"] = base64.b64encode(renewed.cert_pem()).decode()
    kubeconfig.write(path, config)


def renew(data_dir: Path, which: str, announce: Callable[[str], None] = print) -> list[str]:
    """Renew one certificate by kubeadm name, or ``all``; the names renewed (CertsError if one cannot be)."""
    names = {m.name: m for m in CERTIFICATES}
    if which != "all" and which not in names:
        raise CertsError(f"unknown certificate {which!r}; known: all, {', '.join(names)}")
    etcd = _has_etcd(data_dir)
    chosen = [m for m in CERTIFICATES if (which == "all" and (etcd or not m.etcd)) or m.name == which]
    done = []
    for managed in chosen:
        ca = _ca_pair(data_dir, managed.ca)
        if managed.in_kubeconfig:
            path = data_dir / managed.name
            if not path.exists():
                raise CertsError(f"{path} does not exist: run `pinnace adm init phase kubeconfig` first")
            _renew_kubeconfig(path, ca)
            if managed.name == "admin.conf" and (data_dir / "kubeconfig").exists():
                _renew_kubeconfig(data_dir / "kubeconfig", ca)  # ``pinnace up``'s copy of the admin's credentials
        else:
            crt, key_path = (
                data_dir / "pki" / f"{_stem(managed.name)}.crt",
                data_dir / "pki" / f"{_stem(managed.name)}.key",
            )
            pair = pki.load_pair(crt, key_path)
            if pair is None:
                raise CertsError(f"{crt} or its key is missing or they do not match: run the certs phase first")
            pki.write_pair(crt, key_path, pki.CertPair(pki.issue(_spec_of(pair.cert), ca, pair.key), pair.key))
        announce(f"{managed.purpose} renewed")
        done.append(managed.name)
    return done


def certificate_key() -> str:
    """``kubeadm certs certificate-key``: 32 random bytes in hex, the key that encrypts uploaded certificates."""
    return secrets.token_hex(32)


# ---- CSRs for an external CA ---------------------------------------------------------------------------------------
def _leaf_specs(config: pki.PKIConfig) -> dict[str, pki.CertSpec]:
    """What each leaf certificate must say (the certs phase's specs), for CSRs."""
    dns, ips = pki.apiserver_sans(config)
    return {
        "apiserver": pki.CertSpec("kube-apiserver", (), dns, ips, server=True),
        "apiserver-kubelet-client": pki.CertSpec(
            "kube-apiserver-kubelet-client", (pki.CLUSTER_ADMINS_GROUP,), client=True
        ),
        "front-proxy-client": pki.CertSpec("front-proxy-client", client=True),
    }


def _key_pem(key: pki.PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (never replacing a file: the caller checked none is there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _csr(spec: pki.CertSpec, key: pki.PrivateKey) -> bytes:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in spec.organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def generate_csrs(cert_dir: Path, kubeconfig_dir: Path, config: pki.PKIConfig, server: str) -> list[Path]:
    """``kubeadm certs generate-csr``: a new key and a CSR for each leaf certificate and kubeconfig; the files.

    The kubeconfigs are written with their key and without a certificate; the CSRs go next to them
    (``admin.conf.csr``). Files that exist are never overwritten (CertsError).
    """
    from pinnace.adm import kubeconfigs

    leafs = _leaf_specs(config)
    identities = kubeconfigs.KUBECONFIGS
    planned = [cert_dir / f"{n}.{ext}" for n in leafs for ext in ("key", "csr")]
    planned += [kubeconfig_dir / f"{n}{ext}" for n in identities for ext in ("", ".csr")]
    existing = [str(p) for p in planned if p.exists()]
    if existing:
        raise CertsError(f"refusing to overwrite {', '.join(existing)}")
    written = []
    for name, spec in leafs.items():
        key = pki.generate_key(config.encryption_algorithm)
        _write(cert_dir / f"{name}.key", _key_pem(key), 0o600)
        _write(cert_dir / f"{name}.csr", _csr(spec, key), 0o644)
        written += [cert_dir / f"{name}.key", cert_dir / f"{name}.csr"]
    for name, identity in identities.items():
        key = pki.generate_key(config.encryption_algorithm)
        key_pem = _key_pem(key)
        ca_path = cert_dir / "ca.crt"
        cluster: Obj = {"server": server}
        if ca_path.exists():
            cluster["certificate-authority-data"] = base64.b64encode(ca_path.read_bytes()).decode()
        user = f"{identity.user}@{kubeconfigs.CLUSTER_NAME}"
        config_doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": kubeconfigs.CLUSTER_NAME, "cluster": cluster}],
            "users": [{"name": identity.user, "user": {"client-key-data": base64.b64encode(key_pem).decode()}}],
            "contexts": [{"name": user, "context": {"cluster": kubeconfigs.CLUSTER_NAME, "user": identity.user}}],
            "current-context": user,
        }
        kubeconfig.write(kubeconfig_dir / name, config_doc)
        spec = pki.CertSpec(identity.user, identity.groups, client=True)
        _write(kubeconfig_dir / f"{name}.csr", _csr(spec, key), 0o644)
        written += [kubeconfig_dir / name, kubeconfig_dir / f"{name}.csr"]
    return written
