"""CertificateSigningRequests record who asked: the requester's identity goes into the spec on create.

Upstream's CSR strategy fills ``spec.username``, ``uid``, ``groups`` and
``extra`` from the request's user, whatever the body says, so that approvers
and signers can trust them (the kubelet's TLS bootstrap is approved because
its CSR says ``system:bootstrap:<token-id>`` in ``system:bootstrappers``).
"""

from __future__ import annotations

from typing import Any

from pinnace.apiserver.user import current_user

Obj = dict[str, Any]

CSR = ("certificates.k8s.io", "CertificateSigningRequest")


async def _done(ok: bool) -> None:
    return None


class RequesterIdentity:
    """Storage hooks for CSRs: stamp the requesting user on create (see the module docstring)."""

    async def begin_create(self, obj: Obj, *, dry_run: bool) -> Any:
        """Replace any identity in the spec by the request's user (none when authentication is off)."""
        spec = obj.setdefault("spec", {})
        for key in ("username", "uid", "groups", "extra"):
            spec.pop(key, None)
        user = current_user.get()
        if user is not None:
            spec["username"] = user.name
            if user.uid:
                spec["uid"] = user.uid
            if user.groups:
                spec["groups"] = list(user.groups)
            if user.extra:
                spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        return _done

    async def begin_update(self, new: Obj, old: Obj, *, dry_run: bool) -> Any:
        """Nothing: the spec of a CSR never changes."""
        return _done

    async def after_delete(self, obj: Obj) -> None:
        """Nothing to clean up."""
