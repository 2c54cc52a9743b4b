"""Validation of PersistentVolume (core/v1) and the storage.k8s.io kinds, as upstream's validation package words it."""

from __future__ import annotations

from pinnace.api.validation.field import Validator

#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {}
