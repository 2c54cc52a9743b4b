"""The PodSecurity admission plugin: a namespace's labels choose the standard its pods are held to.

As upstream's built-in Pod Security admission (v1.32), with no exemptions and
the defaults ``privileged:latest`` for each mode:

- ``pod-security.kubernetes.io/enforce`` (and ``enforce-version``): a pod (create,
  a significant update — new images —, or ephemeral containers) that fails is 403
  ``pods "x" is forbidden: violates PodSecurity "restricted:latest": …``;
- ``…/warn``: the client gets ``would violate PodSecurity "restricted:latest": …``
  warnings (kubectl prints them), for pods and for the pod templates of workloads
  (which are never refused);
- ``…/audit``: upstream writes audit annotations; Pinnace has no audit log yet, so
  audit is accepted and not acted on;
- changing a namespace's enforce level warns about the existing pods that violate
  it (``existing pods in namespace "x" violate the new PodSecurity enforce level
  "restricted:latest"``, then ``pod (and N other pods): reasons``);
- a malformed level or version label on a namespace is refused (422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pinnace.api import errors, podutil
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import namespace_named, objects_in
from pinnace.apiserver.admission.podsecurity import checks

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["LABEL_PREFIX", "PodSecurity", "Policy", "policy_of"]

Obj = dict[str, Any]

LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
#: How many existing pods a namespace label change checks (upstream's namespaceMaxPodsToCheck).
MAX_PODS_TO_CHECK = 3000


@dataclass(frozen=True, slots=True)
class LevelVersion:
    """A standard at a version, as labels name it (``restricted:latest``, ``baseline:v1.30``)."""

    level: str
    version: tuple[int, int]
    version_text: str

    def __str__(self) -> str:
        return f"{self.level}:{self.version_text}"


_PRIVILEGED = LevelVersion("privileged", checks.LATEST, "latest")


@dataclass(frozen=True, slots=True)
class Policy:
    """A namespace's enforce, audit and warn standards."""

    enforce: LevelVersion = _PRIVILEGED
    audit: LevelVersion = _PRIVILEGED
    warn: LevelVersion = _PRIVILEGED


def _level_version(labels: Obj, mode: str) -> tuple[LevelVersion, list[errors.Cause]]:
    key = LABEL_PREFIX + mode
    level = labels.get(key) or "privileged"
    version_text = labels.get(f"{key}-version") or "latest"
    causes = []
    if level not in checks.LEVELS:
        causes.append(
            errors.Cause(
                errors.CAUSE_INVALID,
                f'Invalid value: "{level}": must be one of privileged, baseline, restricted',
                f"metadata.labels[{key}]",
            )
        )
        level = "restricted"  # fail closed, as upstream
    version = checks.parse_version(version_text)
    if version is None:
        causes.append(
            errors.Cause(
                errors.CAUSE_INVALID,
                f'Invalid value: "{version_text}": must be "latest" or "v1.x"',
                f"metadata.labels[{key}-version]",
            )
        )
        version, version_text = checks.LATEST, "latest"
    text = "latest" if version_text == "latest" else f"v{version[0]}.{version[1]}"
    return LevelVersion(level, version, text), causes


def policy_of(namespace: Obj) -> tuple[Policy, list[errors.Cause]]:
    """The namespace's policy from its labels, and what is wrong with them."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    found = {mode: _level_version(labels, mode) for mode in MODES}
    causes = [c for _, cs in found.values() for c in cs]
    return Policy(found["enforce"][0], found["audit"][0], found["warn"][0]), causes


def _significant_pod_update(new: Obj, old: Obj) -> bool:
    """Upstream's isSignificantPodUpdate: a pod update is checked only if images or seccomp annotations changed."""
    new_ann = (new.get("metadata") or {}).get("annotations") or {}
    old_ann = (old.get("metadata") or {}).get("annotations") or {}
    if new_ann.get(checks.SECCOMP_POD_ANNOTATION) != old_ann.get(checks.SECCOMP_POD_ANNOTATION):
        return True
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        a, b = new_spec.get(key) or [], old_spec.get(key) or []
        if len(a) != len(b):
            return True
        for c, d in zip(a, b, strict=True):
            if c.get("image") != d.get("image"):
                return True
            seccomp = checks.SECCOMP_CONTAINER_ANNOTATION + str(c.get("name", ""))
            if new_ann.get(seccomp) != old_ann.get(seccomp):
                return True
    return False


class PodSecurity:
    """The PodSecurity admission plugin (validating)."""

    name = "PodSecurity"

    def __init__(self, rest: RestStore) -> None:
        """Namespaces and pods are read from ``rest``'s watch cache."""
        self.rest = rest

    @classmethod
    def for_server(cls, server: APIServer) -> PodSecurity:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Pods, workloads with pod templates, and namespaces; creates and updates."""
        if request.operation not in (Operation.CREATE, Operation.UPDATE) or request.obj is None:
            return False
        gr = (request.info.group, request.info.plural)
        if gr == ("", "pods"):
            return request.subresource in ("", "ephemeralcontainers")
        return not request.subresource and (
            (request.info.group, request.info.kind) in podutil.POD_TEMPLATE_PATHS or gr == ("", "namespaces")
        )

    async def validate(self, request: AdmissionRequest) -> None:
        """Apply the namespace's standards to the request."""
        if request.info.plural == "namespaces" and request.info.group == "":
            await self._namespace(request)
            return
        namespace = await namespace_named(self.rest, request.namespace)
        if namespace is None:
            return
        policy, _ = policy_of(namespace)
        if policy.enforce.level == policy.warn.level == "privileged":
            return  # the default: nothing to check
        assert request.obj is not None
        if request.info.plural == "pods" and request.info.group == "":
            if (
                request.operation is Operation.UPDATE
                and request.old is not None
                and not request.subresource
                and not _significant_pod_update(request.obj, request.old)
            ):
                return
            self._pod(request, policy, request.obj.get("metadata") or {}, request.obj.get("spec") or {})
            return
        group, kind = request.info.group, request.info.kind
        template = podutil.pod_template(group, kind, request.obj)
        if template is None:
            return
        old = request.old if request.operation is Operation.UPDATE else None
        if old is not None and podutil.pod_template(group, kind, old) == template:
            return
        self._warn(request, policy.warn, template.get("metadata") or {}, template.get("spec") or {})

    def _pod(self, request: AdmissionRequest, policy: Policy, meta: Obj, spec: Obj) -> None:
        violations = checks.evaluate(policy.enforce.level, policy.enforce.version, meta, spec)
        if violations:
            raise forbidden(request, f'violates PodSecurity "{policy.enforce}": {checks.describe(violations)}')
        if policy.warn != policy.enforce:
            self._warn(request, policy.warn, meta, spec)

    @staticmethod
    def _warn(request: AdmissionRequest, standard: LevelVersion, meta: Obj, spec: Obj) -> None:
        violations = checks.evaluate(standard.level, standard.version, meta, spec)
        if violations:
            request.warnings.append(f'would violate PodSecurity "{standard}": {checks.describe(violations)}')

    async def _namespace(self, request: AdmissionRequest) -> None:
        assert request.obj is not None
        policy, causes = policy_of(request.obj)
        if causes:
            raise errors.invalid("Namespace", request.name, causes)
        if request.operation is not Operation.UPDATE or request.old is None or request.subresource:
            return
        if policy.enforce == policy_of(request.old)[0].enforce or policy.enforce.level == "privileged":
            return
        pods = await objects_in(self.rest, "", "v1", "pods", request.name)
        request.warnings.extend(_existing_pod_warnings(request.name, policy.enforce, pods))


def _existing_pod_warnings(namespace: str, enforce: LevelVersion, pods: list[Obj]) -> list[str]:
    """Upstream's EvaluatePodsInNamespace: which existing pods the new enforce level would refuse."""
    checked = pods[:MAX_PODS_TO_CHECK]
    first: dict[str, str] = {}
    counts: dict[str, int] = {}
    for pod in checked:
        violations = checks.evaluate(enforce.level, enforce.version, pod.get("metadata") or {}, pod.get("spec") or {})
        if not violations:
            continue
        reasons = ", ".join(v.reason for v in violations)
        name = str((pod.get("metadata") or {}).get("name", ""))
        if reasons not in first or name < first[reasons]:
            first[reasons] = name
        counts[reasons] = counts.get(reasons, 0) + 1
    warnings = []
    if len(checked) < len(pods):
        warnings.append(
            f"new PodSecurity enforce level only checked against the first {len(checked)} of {len(pods)} existing pods"
        )
    if first:
        warnings.append(
            f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{enforce}"'
        )
    decorated = []
    for reasons, name in first.items():
        n = counts[reasons]
        if n == 1:
            decorated.append(f"{name}: {reasons}")
        elif n == 2:
            decorated.append(f"{name} (and 1 other pod): {reasons}")
        else:
            decorated.append(f"{name} (and {n - 1} other pods): {reasons}")
    return warnings + sorted(decorated)
