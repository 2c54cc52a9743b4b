"""Validation of Endpoints (core/v1) and EndpointSlice (discovery.k8s.io), as upstream's validation package words it."""

from __future__ import annotations

from pinnace.api.validation.field import Validator

#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {}
