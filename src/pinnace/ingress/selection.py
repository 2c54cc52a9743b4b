"""Which Ingresses this controller serves, and in which order their rules merge.

An Ingress belongs to the controller (upstream's IngressClass rules, as
ingress-nginx applies them) when

- its legacy ``kubernetes.io/ingress.class`` annotation equals the controller's class name; else
- its ``spec.ingressClassName`` names an IngressClass whose ``spec.controller`` is the controller's name; else
- it names no class at all and one of the controller's IngressClasses carries
  ``ingressclass.kubernetes.io/is-default-class: "true"``.

Served Ingresses are ordered oldest first (creation time, then namespace/name): where two of them claim the
same host and path, or the same TLS host, the older one wins, as in ingress-nginx. Pure functions of API objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "DEFAULT_CLASS_ANNOTATION",
    "INGRESS_CLASS_ANNOTATION",
    "ingress_key",
    "served_ingresses",
]

Obj = dict[str, Any]

#: The legacy (pre-IngressClass) annotation that names an Ingress's class.
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
#: The annotation that makes an IngressClass the default for Ingresses that name none.
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def ingress_key(ingress: Obj) -> str:
    """``namespace/name`` of an Ingress."""
    meta = ingress.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _age_order(ingress: Obj) -> tuple[str, str]:
    meta = ingress.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), ingress_key(ingress)


def _ours(ingress: Obj, our_classes: set[str], default_class: bool, class_name: str) -> bool:
    meta = ingress.get("metadata") or {}
    legacy = (meta.get("annotations") or {}).get(INGRESS_CLASS_ANNOTATION)
    if legacy:
        return bool(legacy == class_name)
    named = (ingress.get("spec") or {}).get("ingressClassName")
    if named:
        return named in our_classes
    return default_class


def served_ingresses(
    ingresses: Iterable[Obj], classes: Iterable[Obj], *, class_name: str, controller_name: str
) -> list[Obj]:
    """The Ingresses of ``ingresses`` the controller named ``controller_name`` (class ``class_name`` for the legacy
    annotation) serves, given the cluster's IngressClasses, oldest first."""
    our_classes: set[str] = set()
    default_class = False
    for ingress_class in classes:
        if (ingress_class.get("spec") or {}).get("controller") != controller_name:
            continue
        meta = ingress_class.get("metadata") or {}
        our_classes.add(str(meta.get("name") or ""))
        if (meta.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
            default_class = True
    chosen = [ing for ing in ingresses if _ours(ing, our_classes, default_class, class_name)]
    chosen.sort(key=_age_order)
    return chosen
