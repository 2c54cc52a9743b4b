"""The admission plugins an API server can enable, by upstream name, and the chain built from them.

:data:`ADMISSION_PLUGINS` maps each plugin's upstream name (the names of
kube-apiserver's ``--enable-admission-plugins``) to ``"module:factory"``; a
factory takes the :class:`~pinnace.apiserver.server.APIServer` and returns the
plugin. Modules are imported only when a plugin is enabled. :func:`build_chain`
puts the enabled plugins in upstream's fixed order (:data:`PLUGIN_ORDER`,
whatever order they were asked for in): a plugin with ``admit`` runs in the
mutating phase, one with ``validate`` in the validating phase, one with both
(LimitRanger, ServiceAccount) in both.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from pinnace.apiserver.admission import MutatingPlugin, ValidatingPlugin
from pinnace.apiserver.admission.chain import AdmissionChain

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer

__all__ = ["ADMISSION_PLUGINS", "DEFAULT_PLUGINS", "MINIMAL_PLUGINS", "PLUGIN_ORDER", "build_chain", "resolve_plugins"]

#: Every plugin by upstream name: where its factory lives.
ADMISSION_PLUGINS: dict[str, str] = {
    "NamespaceLifecycle": "pinnace.apiserver.admission.namespace_lifecycle:NamespaceLifecycle.for_server",
    "LimitRanger": "pinnace.apiserver.admission.limitranger:LimitRanger.for_server",
    "ServiceAccount": "pinnace.apiserver.admission.serviceaccount:ServiceAccountAdmission.for_server",
    "NodeRestriction": "pinnace.apiserver.admission.noderestriction:NodeRestriction.for_server",
    "PodSecurity": "pinnace.apiserver.admission.podsecurity.plugin:PodSecurity.for_server",
    "DefaultStorageClass": "pinnace.apiserver.admission.defaultstorageclass:DefaultStorageClass.for_server",
    "StorageObjectInUseProtection": (
        "pinnace.apiserver.admission.storageprotection:StorageObjectInUseProtection.for_server"
    ),
    "PersistentVolumeClaimResize": "pinnace.apiserver.admission.pvcresize:PersistentVolumeClaimResize.for_server",
    "MutatingAdmissionWebhook": "pinnace.apiserver.admission.webhooks.plugin:MutatingWebhooks.for_server",
    "CertificateApproval": "pinnace.apiserver.admission.certificates:CertificateApproval.for_server",
    "CertificateSigning": "pinnace.apiserver.admission.certificates:CertificateSigning.for_server",
    "CertificateSubjectRestriction": (
        "pinnace.apiserver.admission.certificates:CertificateSubjectRestriction.for_server"
    ),
    "ValidatingAdmissionPolicy": "pinnace.apiserver.admission.vap:ValidatingAdmissionPolicy.for_server",
    "ValidatingAdmissionWebhook": "pinnace.apiserver.admission.webhooks.plugin:ValidatingWebhooks.for_server",
    "ResourceQuota": "pinnace.apiserver.admission.resourcequota:ResourceQuotaAdmission.for_server",
}

#: Upstream's plugin order (``AllOrderedPlugins``), restricted to the plugins Pinnace has or will have.
PLUGIN_ORDER: tuple[str, ...] = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "PodSecurity",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize",
    "CertificateApproval",
    "CertificateSigning",
    "CertificateSubjectRestriction",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)

#: What ``pinnace up`` enables: kube-apiserver's default-on set, among the plugins that exist, plus NodeRestriction,
#: which kubeadm adds (``--enable-admission-plugins=NodeRestriction``).
DEFAULT_PLUGINS: tuple[str, ...] = tuple(name for name in PLUGIN_ORDER if name in ADMISSION_PLUGINS)

#: What a bare ``APIServer`` enables: only what the REST store always did (no content in dead namespaces).
MINIMAL_PLUGINS: tuple[str, ...] = ("NamespaceLifecycle",)


def _names(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in ADMISSION_PLUGINS]
    if unknown:
        raise ValueError(
            f"unknown admission plugin(s): {', '.join(unknown)}; known: {', '.join(sorted(ADMISSION_PLUGINS))}"
        )
    return names


def resolve_plugins(enable: str = "", disable: str = "") -> tuple[str, ...]:
    """The plugins of kube-apiserver's ``--enable-admission-plugins`` / ``--disable-admission-plugins``: the
    default set plus the enabled ones, less the disabled ones (comma-separated names), in upstream's order.
    ValueError for an unknown name, or one both enabled and disabled."""
    enabled, disabled = _names(enable), _names(disable)
    both = sorted(set(enabled) & set(disabled))
    if both:
        raise ValueError(f"admission plugins both enabled and disabled: {', '.join(both)}")
    wanted = (set(DEFAULT_PLUGINS) | set(enabled)) - set(disabled)
    return tuple(n for n in PLUGIN_ORDER if n in wanted)


def _factory(name: str) -> Callable[[APIServer], Any]:
    target = ADMISSION_PLUGINS.get(name)
    if target is None:
        raise ValueError(f"unknown admission plugin {name!r}; known: {', '.join(sorted(ADMISSION_PLUGINS))}")
    module_name, _, path = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in path.split("."):
        value = getattr(value, part)
    return cast(Callable[["APIServer"], Any], value)


def build_chain(server: APIServer, names: Iterable[str]) -> AdmissionChain:
    """The chain of the named plugins, in upstream's order; ValueError for an unknown name."""
    wanted = list(dict.fromkeys(names))
    factories = {name: _factory(name) for name in wanted}
    ordered = [n for n in PLUGIN_ORDER if n in factories] + [n for n in wanted if n not in PLUGIN_ORDER]
    mutating: list[MutatingPlugin] = []
    validating: list[ValidatingPlugin] = []
    for name in ordered:
        plugin = factories[name](server)
        if callable(getattr(plugin, "admit", None)):
            mutating.append(plugin)
        if callable(getattr(plugin, "validate", None)):
            validating.append(plugin)
    return AdmissionChain(mutating, validating)
