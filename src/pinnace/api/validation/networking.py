"""Validation of Ingress, IngressClass and NetworkPolicy (networking.k8s.io), in upstream's wording."""

from __future__ import annotations

from pinnace.api.validation.field import Validator

#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {}
