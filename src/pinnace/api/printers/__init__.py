"""Server-side printers: the columns and cells kube-apiserver puts in a Table.

One module per family of API groups (``core``, ``core_resources``,
``workloads``, ``cluster``, ``admin``),
each exporting ``PRINTERS``: ``(group, kind) → Printer``. ``custom`` builds the
columns of custom resources from a CRD's ``additionalPrinterColumns``.
``pinnace.api.table`` is the front: it merges the registries, falls back to
the default convertor and assembles the ``meta.k8s.io/v1`` Table.
"""

from pinnace.api.printers._common import Printer
from pinnace.api.printers.admin import PRINTERS as _ADMIN
from pinnace.api.printers.cluster import PRINTERS as _CLUSTER
from pinnace.api.printers.core import PRINTERS as _CORE
from pinnace.api.printers.core_resources import PRINTERS as _CORE_RESOURCES
from pinnace.api.printers.workloads import PRINTERS as _WORKLOADS

PRINTERS: dict[tuple[str, str], Printer] = {**_CORE, **_CORE_RESOURCES, **_WORKLOADS, **_CLUSTER, **_ADMIN}
"""Every built-in printer by (group, kind)."""

__all__ = ["PRINTERS", "Printer"]
