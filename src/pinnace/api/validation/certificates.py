"""CertificateSigningRequest validation (upstream ``certificates/validation``), for certificates.k8s.io/v1.

A CSR's request must be a PEM ``CERTIFICATE REQUEST`` with a valid signature,
its usages known and unique, its signer a ``domain/path`` name (not the
legacy one), its expiration at least ten minutes; its conditions consistent
(Approved and Denied exclusive; Approved, Denied and Failed only ``True`` and
never removed); its certificate, once issued, PEM ``CERTIFICATE`` blocks.
Which updates may add approval conditions or a certificate depends on the
subresource (``approval``, ``status``): :func:`csr_transition`, called by the
strategy, which knows it. As upstream, a problem already present in the stored
object is tolerated on update, for compatibility.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509

from pinnace.api.errors import Cause
from pinnace.api.names import is_dns1123_subdomain
from pinnace.api.validation.field import duplicate, forbidden, invalid, not_supported, required

__all__ = ["VALID_USAGES", "csr", "csr_transition", "parse_request"]

Obj = dict[str, Any]

VALID_USAGES = frozenset(
    {
        "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
        "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
        "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
        "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
    }
)  # fmt: skip
LEGACY_SIGNER = "kubernetes.io/legacy-unknown"
#: Condition types whose only allowed status is "True".
TRUE_ONLY = ("Approved", "Denied", "Failed")
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def _bytes(value: Any) -> bytes:
    """A []byte field's bytes (base64 in JSON); b"" when absent or malformed (decoding rejects that earlier)."""
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def parse_request(obj: Obj) -> x509.CertificateSigningRequest:
    """The CSR's PKCS#10 request, signature checked; ValueError with upstream's message if it is not one."""
    data = _bytes((obj.get("spec") or {}).get("request"))
    match = _PEM.search(data)
    if match is None or match.group(1) != b"CERTIFICATE REQUEST":
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        request = x509.load_pem_x509_csr(match.group(0))
    except ValueError as exc:
        raise ValueError(f"x509: malformed certificate request: {exc}") from None
    if not request.is_signature_valid:
        raise ValueError("x509: signature verification failure")
    return request


def _certificate_error(data: bytes) -> str | None:
    if not data:
        return None
    blocks = 0
    for match in _PEM.finditer(data):
        if match.group(1) != b"CERTIFICATE":
            return f"only CERTIFICATE PEM blocks are allowed, found {match.group(1).decode()!r}"
        if b":" in match.group(2).split(b"\n", 1)[0]:
            return "no PEM block headers are permitted"
        try:
            x509.load_pem_x509_certificate(match.group(0))
        except ValueError as exc:
            return f"x509: malformed certificate: {exc}"
        blocks += 1
    return None if blocks else "must contain at least one CERTIFICATE PEM block"


def _signer_name(path: str, name: str) -> list[Cause]:
    """``ValidateSignerName``: a fully qualified domain, a slash, and a path."""
    if not name:
        return [required(path)]
    domain, slash, rest = name.partition("/")
    shape = "must be a fully qualified domain and path of the form 'example.com/signer-name'"
    if not slash or not domain or not rest:
        return [invalid(path, name, shape)]
    causes = [invalid(path, name, f"{shape}: {problem}") for problem in is_dns1123_subdomain(domain)]
    if len(name) > 571:
        causes.append(invalid(path, name, "must be no more than 571 characters"))
    return causes


def _conditions(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    conditions = _list((obj.get("status") or {}).get("conditions"))
    old_conditions = _list(((old or {}).get("status") or {}).get("conditions"))
    old_types = [c.get("type") for c in old_conditions]
    both_before = "Approved" in old_types and "Denied" in old_types
    dup_before = len(old_types) != len(set(old_types))
    seen: set[str] = set()
    approved = denied = False
    for i, c in enumerate(conditions):
        path = f"status.conditions[{i}]"
        kind, status = c.get("type") or "", c.get("status") or ""
        if not kind and "" not in old_types:
            causes.append(required(f"{path}.type"))
        allowed = ["True"] if kind in TRUE_ONLY else ["False", "True", "Unknown"]
        if not status:
            causes.append(required(f"{path}.status"))
        elif status not in allowed:
            causes.append(not_supported(f"{path}.status", status, allowed))
        if not both_before and kind in ("Approved", "Denied"):
            approved, denied = approved or kind == "Approved", denied or kind == "Denied"
            if approved and denied:
                causes.append(invalid(f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"))
        if kind in seen and not dup_before:
            causes.append(duplicate(f"{path}.type", kind))
        seen.add(kind)
    return causes


def _list(value: Any) -> list[Obj]:
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def csr(obj: Obj, old: Obj | None) -> list[Cause]:
    """Every problem of a CSR on create (``old`` None) or update, whatever the subresource."""
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    old_spec = (old or {}).get("spec") or {}
    try:
        parse_request(obj)
    except ValueError as exc:
        causes.append(invalid("spec.request", spec.get("request"), str(exc)))
    usages = spec.get("usages") or []
    old_usages = old_spec.get("usages") or []
    if not usages:
        causes.append(required("spec.usages"))
    if not any(u not in VALID_USAGES for u in old_usages):
        for i, usage in enumerate(usages):
            if usage not in VALID_USAGES:
                causes.append(not_supported(f"spec.usages[{i}]", usage, sorted(VALID_USAGES)))
    if len(set(old_usages)) == len(old_usages):
        seen: set[str] = set()
        for i, usage in enumerate(usages):
            if usage in seen:
                causes.append(duplicate(f"spec.usages[{i}]", usage))
            seen.add(usage)
    signer = spec.get("signerName") or ""
    if signer == LEGACY_SIGNER and old_spec.get("signerName") != LEGACY_SIGNER:
        causes.append(invalid("spec.signerName", signer, "the legacy signerName is not allowed via this API version"))
    elif signer != LEGACY_SIGNER:
        causes.extend(_signer_name("spec.signerName", signer))
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < 600:
        causes.append(
            invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 600 seconds (10 minutes)")
        )
    causes.extend(_conditions(obj, old))
    certificate = _bytes((obj.get("status") or {}).get("certificate"))
    old_certificate = _bytes(((old or {}).get("status") or {}).get("certificate"))
    if old is None or (certificate != old_certificate and _certificate_error(old_certificate) is None):
        problem = _certificate_error(certificate)
        if problem is not None:
            causes.append(invalid("status.certificate", "<certificate data>", problem))
    if old is not None:
        for kind in TRUE_ONLY:
            if _count(obj, kind) < _count(old, kind):
                causes.append(forbidden("status.conditions", f'updates may not remove a condition of type "{kind}"'))
    return causes


def _count(obj: Obj, kind: str) -> int:
    return sum(1 for c in _list((obj.get("status") or {}).get("conditions")) if c.get("type") == kind)


def _of_type(obj: Obj, kind: str) -> list[Obj]:
    return [c for c in _list((obj.get("status") or {}).get("conditions")) if c.get("type") == kind]


def csr_transition(new: Obj, old: Obj, subresource: str | None) -> list[Cause]:
    """What only some subresources may change: approval conditions (``approval``), the certificate (``status``)."""
    causes: list[Cause] = []
    if subresource != "approval":
        for kind in ("Approved", "Denied"):
            before, after = _of_type(old, kind), _of_type(new, kind)
            if len(after) > len(before):
                causes.append(forbidden("status.conditions", f'updates may not add a condition of type "{kind}"'))
            elif len(after) == len(before) and after != before:
                causes.append(forbidden("status.conditions", f'updates may not modify a condition of type "{kind}"'))
    certificate = (new.get("status") or {}).get("certificate")
    old_certificate = (old.get("status") or {}).get("certificate")
    if (certificate or "") != (old_certificate or ""):
        if subresource != "status":
            causes.append(forbidden("status.certificate", "updates may not set certificate content"))
        elif old_certificate:
            causes.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
    return causes
