"""Pod volumes on the node: each volume becomes a host directory the runtime mounts at the container's mountPath.

:class:`VolumeManager` prepares a pod's volumes under
``<data-dir>/pods/<uid>/volumes/<plugin>/<name>`` (upstream's layout, e.g.
``kubernetes.io~configmap``) and refreshes the ones built from API objects:

- ``emptyDir`` — a directory; ``medium: Memory`` is a tmpfs (sizeLimit) as root, a directory otherwise;
- ``hostPath`` — the host path itself, checked or created per ``type``;
- ``configMap``, ``secret`` — the keys (or ``items``) as files with ``defaultMode``/``mode``; ``optional``;
- ``downwardAPI`` — ``fieldRef`` and ``resourceFieldRef`` items;
- ``persistentVolumeClaim`` and generic ``ephemeral`` volumes (the claim ``<pod>-<volume>``) — the bound
  PersistentVolume's ``hostPath`` (checked or created per ``type``) or ``local`` path (which must exist); the
  claim's ``readOnly`` makes every mount of it read-only (:func:`read_only_volumes`). A claim that is missing,
  being deleted or not bound yet fails as the kubelet's volume manager words it, and the pod waits;
- ``projected`` — configMap, secret, downwardAPI and ``serviceAccountToken`` sources in one directory. The
  token comes from the TokenRequest API (``serviceaccounts/<sa>/token``, with the audience, expiry and the
  pod as bound object) and is renewed at 80 % of its life, as the kubelet's token manager does. The
  ``kube-root-ca.crt`` ConfigMap is treated as optional (a cluster without TLS has none).

Files are written as the kubelet's AtomicWriter writes them: into a fresh
``..<timestamp>`` directory, published by atomically renaming a ``..data``
symlink, with each top-level name a symlink into ``..data`` — so a reader never
sees a half-updated volume. Contents are refreshed when :meth:`VolumeManager.setup`
is called and ``refresh_period`` has passed (the agent resyncs pods often enough
for changes to show within about a minute, like the kubelet's sync period).

A volume that cannot be made (a missing ConfigMap, an unsupported type) raises
:class:`VolumeError`; the agent records ``FailedMount`` and retries.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pinnace.api import errors, podutil
from pinnace.api.volumes import claim_owned_by_pod, ephemeral_claim_name
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.agent.env import ConfigError, SourceLookup, field_value, resource_value, source_data
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["AtomicWriter", "VolumeError", "VolumeManager", "read_only_volumes"]

Obj = dict[str, Any]
SERVICE_ACCOUNTS = ResourceRef("", "v1", "serviceaccounts")
CLAIMS = ResourceRef("", "v1", "persistentvolumeclaims")
PERSISTENT_VOLUMES = ResourceRef("", "v1", "persistentvolumes", namespaced=False)
#: The ConfigMap every namespace gets with the cluster's CA (root-ca-cert-publisher); absent without TLS.
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
_MNT_DETACH = 2
#: The fields of a PersistentVolume's spec that are not its volume source.
_PV_FIELDS = frozenset(
    {
        "accessModes",
        "capacity",
        "claimRef",
        "mountOptions",
        "nodeAffinity",
        "persistentVolumeReclaimPolicy",
        "storageClassName",
        "volumeAttributesClassName",
        "volumeMode",
    }
)


class VolumeError(Exception):
    """A volume cannot be set up; the message is the FailedMount event's."""


class _ClaimError(Exception):
    """A claim of the pod cannot be turned into a volume yet (upstream's "failed to process volumes")."""


def read_only_volumes(pod: Obj) -> frozenset[str]:
    """The pod's volumes every mount of which is read-only: claims with ``readOnly: true``."""
    return frozenset(
        str(v.get("name"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if ((v.get("persistentVolumeClaim") or {}).get("readOnly"))
    )


class AtomicWriter:
    """Publishes a set of files into a directory atomically (the kubelet's AtomicWriter)."""

    DATA = "..data"

    def __init__(self, target: Path) -> None:
        self.target = target

    def _current(self) -> dict[str, tuple[bytes, int]] | None:
        data = self.target / self.DATA
        if not data.is_symlink():
            return None
        out: dict[str, tuple[bytes, int]] = {}
        root = data.resolve()
        for path in root.rglob("*"):
            if path.is_file():
                out[str(path.relative_to(root))] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
        return out

    def write(self, payload: Mapping[str, tuple[bytes, int]]) -> bool:
        """Publish ``payload`` (relative path -> (content, mode)); False when it is already what is there."""
        self.target.mkdir(parents=True, exist_ok=True)
        if self._current() == dict(payload):
            return False
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + secrets.token_hex(4)
        fresh = self.target / stamp
        fresh.mkdir()
        for rel, (content, mode) in payload.items():
            path = fresh / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            os.chmod(path, mode)
        old = os.readlink(self.target / self.DATA) if (self.target / self.DATA).is_symlink() else None
        tmp = self.target / "..data_tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(stamp, tmp)
        os.replace(tmp, self.target / self.DATA)
        tops = {rel.split("/", 1)[0] for rel in payload}
        for top in tops:
            link = self.target / top
            if not link.is_symlink():
                os.symlink(f"{self.DATA}/{top}", link)
        for entry in self.target.iterdir():
            if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in tops:
                entry.unlink()
        if old and old != stamp:
            shutil.rmtree(self.target / old, ignore_errors=True)
        return True


@dataclass
class _Token:
    token: bytes
    issued: float
    expires: float


def _mode(value: Any, default: int) -> int:
    return int(value) & 0o777 if value is not None else default


class VolumeManager:
    """Sets up, refreshes and tears down the volumes of this node's pods (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        rest: RestClient,
        lookup: SourceLookup,
        *,
        allocatable: Callable[[], Mapping[str, str]],
        refresh_period: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.root = root
        self.rest = rest
        self.lookup = lookup
        self.allocatable = allocatable
        self.refresh_period = refresh_period
        self.clock: Clock = clock or RealClock()
        self._refreshed: dict[str, float] = {}
        self._tokens: dict[tuple[str, ...], _Token] = {}

    def pod_dir(self, uid: str) -> Path:
        """Where a pod's volumes (and nothing else of it) live on this node."""
        return self.root / uid

    async def setup(self, pod: Obj, *, force: bool = False) -> dict[str, str]:
        """Make every volume of ``pod``; volume name -> host path. VolumeError if one cannot be made."""
        meta = pod["metadata"]
        uid = str(meta["uid"])
        now = self.clock.now()
        refresh = force or now - self._refreshed.get(uid, -1e18) >= self.refresh_period
        paths: dict[str, str] = {}
        unprocessed: list[str] = []
        problems: list[str] = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name"))
            try:
                paths[name] = await self._volume(pod, volume, refresh)
            except _ClaimError as exc:
                unprocessed.append(name)
                problems.append(str(exc))
            except ConfigError as exc:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
            except OSError as exc:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
        if unprocessed:
            names = " ".join(unprocessed)
            raise VolumeError(
                f"Unable to attach or mount volumes: unmounted volumes=[{names}], unattached volumes=[{names}], "
                f"failed to process volumes=[{names}]: {'; '.join(problems)}"
            )
        if refresh:
            self._refreshed[uid] = now
        return paths

    def _dir(self, uid: str, plugin: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / plugin / name

    async def _volume(self, pod: Obj, volume: Obj, refresh: bool) -> str:
        uid = str(pod["metadata"]["uid"])
        name = str(volume["name"])
        if "emptyDir" in volume:
            return self._empty_dir(self._dir(uid, "kubernetes.io~empty-dir", name), volume.get("emptyDir") or {})
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"] or {})
        if "persistentVolumeClaim" in volume:
            return await self._claim(pod, str((volume["persistentVolumeClaim"] or {}).get("claimName") or ""))
        if "ephemeral" in volume:
            return await self._claim(pod, ephemeral_claim_name(str(pod["metadata"]["name"]), name), ephemeral=True)
        for key, plugin in (
            ("configMap", "kubernetes.io~configmap"),
            ("secret", "kubernetes.io~secret"),
            ("downwardAPI", "kubernetes.io~downward-api"),
            ("projected", "kubernetes.io~projected"),
        ):
            if key in volume:
                target = self._dir(uid, plugin, name)
                if refresh or not (target / AtomicWriter.DATA).is_symlink():
                    payload = await self._payload(pod, key, volume[key] or {})
                    AtomicWriter(target).write(payload)
                return str(target)
        kinds = sorted(k for k in volume if k != "name")
        raise VolumeError(f'volume "{name}": type {", ".join(kinds) or "(none)"} is not supported on this node')

    def _empty_dir(self, path: Path, spec: Obj) -> str:
        path.mkdir(parents=True, exist_ok=True)
        if spec.get("medium") == "Memory" and os.geteuid() == 0 and not os.path.ismount(path):
            options = "mode=0777"
            if spec.get("sizeLimit"):
                options += f",size={podutil.value_of(spec['sizeLimit'])}"
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", 0, options.encode()) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"mounting a tmpfs at {path}: {os.strerror(err)}")
        else:
            os.chmod(path, 0o777)
        return str(path)

    @staticmethod
    def _host_path(spec: Obj) -> str:
        path = Path(str(spec.get("path") or "/"))
        kind = spec.get("type") or ""
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "FileOrCreate" and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        checks = {
            "Directory": path.is_dir,
            "File": path.is_file,
            "Socket": path.is_socket,
            "CharDevice": path.is_char_device,
            "BlockDevice": path.is_block_device,
        }
        if kind in checks and not checks[kind]():
            raise VolumeError(f"hostPath type check failed: {path} is not a {kind}")
        return str(path)

    async def _claim(self, pod: Obj, claim_name: str, *, ephemeral: bool = False) -> str:
        """The host path of the volume a claim of the pod is bound to (the kubelet's getPVCExtractPV/getPVSpec)."""
        meta = pod["metadata"]
        namespace = str(meta.get("namespace") or "default")
        where = f"{namespace}/{claim_name}"
        try:
            claim = await self.rest.get(CLAIMS, claim_name, namespace)
        except (errors.StatusError, OSError) as exc:
            raise _ClaimError(f"error processing PVC {where}: failed to fetch PVC from API server: {exc}") from exc
        cmeta = claim.get("metadata") or {}
        if cmeta.get("deletionTimestamp"):
            raise _ClaimError(f"error processing PVC {where}: PVC is being deleted")
        if (claim.get("status") or {}).get("phase") != "Bound":
            raise _ClaimError(f"error processing PVC {where}: PVC is not bound")
        pv_name = str((claim.get("spec") or {}).get("volumeName") or "")
        if not pv_name:
            raise _ClaimError(f"error processing PVC {where}: PVC has empty pvc.Spec.VolumeName")
        if ephemeral and not claim_owned_by_pod(claim, meta.get("uid")):
            raise _ClaimError(f"PVC {where} was not created for pod {namespace}/{meta['name']} (pod is not owner)")
        try:
            pv = await self.rest.get(PERSISTENT_VOLUMES, pv_name)
        except (errors.StatusError, OSError) as exc:
            raise _ClaimError(
                f"error processing PVC {where}: failed to fetch PV {pv_name} from API server: {exc}"
            ) from exc
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef")
        if not ref:
            raise _ClaimError(
                f"error processing PVC {where}: found PV object {pv_name} but it has a nil pv.Spec.ClaimRef "
                "indicating it is not yet bound to the claim"
            )
        if ref.get("uid") != cmeta.get("uid"):
            raise _ClaimError(
                f"error processing PVC {where}: found PV object {pv_name} but its pv.Spec.ClaimRef.UID "
                f"{ref.get('uid')} does not point to claim.UID {cmeta.get('uid')}"
            )
        if "hostPath" in spec:
            try:
                return self._host_path(spec["hostPath"] or {})
            except VolumeError as exc:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{pv_name}" : {exc}') from exc
        if "local" in spec:
            path = str((spec["local"] or {}).get("path") or "")
            if not path or not os.path.exists(path):
                why = f'path "{path}" does not exist'
                raise VolumeError(f'MountVolume.NewMounter initialization failed for volume "{pv_name}" : {why}')
            return path
        kinds = sorted(k for k in spec if k not in _PV_FIELDS)
        raise VolumeError(
            f'volume "{pv_name}" of claim {where}: type {", ".join(kinds) or "(none)"} is not supported on this node'
        )

    # ---- contents ----------------------------------------------------------------------------------
    async def _payload(self, pod: Obj, kind: str, spec: Obj) -> dict[str, tuple[bytes, int]]:
        namespace = str(pod["metadata"].get("namespace") or "default")
        if kind == "projected":
            default = _mode(spec.get("defaultMode"), 0o644)
            out: dict[str, tuple[bytes, int]] = {}
            for source in spec.get("sources") or []:
                if "configMap" in source:
                    cm = dict(source["configMap"] or {})
                    if cm.get("name") == ROOT_CA_CONFIGMAP:
                        cm["optional"] = True
                    out.update(await self._keys(namespace, "ConfigMap", cm, str(cm.get("name") or ""), default))
                elif "secret" in source:
                    sec = source["secret"] or {}
                    out.update(await self._keys(namespace, "Secret", sec, str(sec.get("name") or ""), default))
                elif "downwardAPI" in source:
                    out.update(self._downward(pod, source["downwardAPI"] or {}, default))
                elif "serviceAccountToken" in source:
                    tok = source["serviceAccountToken"] or {}
                    out[str(tok.get("path") or "token")] = (await self._token(pod, tok), default & 0o777)
            return out
        if kind == "configMap":
            return await self._keys(
                namespace, "ConfigMap", spec, str(spec.get("name") or ""), _mode(spec.get("defaultMode"), 0o644)
            )
        if kind == "secret":
            return await self._keys(
                namespace, "Secret", spec, str(spec.get("secretName") or ""), _mode(spec.get("defaultMode"), 0o644)
            )
        return self._downward(pod, spec, _mode(spec.get("defaultMode"), 0o644))

    async def _keys(
        self, namespace: str, kind: str, spec: Obj, name: str, default: int
    ) -> dict[str, tuple[bytes, int]]:
        obj = await self.lookup(kind, namespace, name)
        if obj is None:
            if spec.get("optional"):
                return {}
            raise ConfigError(f'{"configmap" if kind == "ConfigMap" else "secret"} "{name}" not found')
        data = source_data(obj)
        items = spec.get("items")
        if not items:
            return {key: (value, default) for key, value in data.items()}
        out = {}
        for item in items:
            key = str(item.get("key"))
            if key not in data:
                if spec.get("optional"):
                    continue
                raise ConfigError(
                    f"configmap references non-existent config key: {key}"
                    if kind == "ConfigMap"
                    else f"references non-existent secret key: {key}"
                )
            out[str(item.get("path") or key)] = (data[key], _mode(item.get("mode"), default))
        return out

    def _downward(self, pod: Obj, spec: Obj, default: int) -> dict[str, tuple[bytes, int]]:
        out = {}
        for item in spec.get("items") or []:
            if item.get("fieldRef"):
                value = field_value(pod, str(item["fieldRef"].get("fieldPath") or ""))
            elif item.get("resourceFieldRef"):
                value = resource_value(pod, item["resourceFieldRef"], "", self.allocatable())
            else:
                continue
            out[str(item.get("path"))] = (value.encode(), _mode(item.get("mode"), default))
        return out

    async def _token(self, pod: Obj, spec: Obj) -> bytes:
        meta = pod["metadata"]
        sa = str((pod.get("spec") or {}).get("serviceAccountName") or "default")
        audience = str(spec.get("audience") or "")
        expiry = int(spec.get("expirationSeconds") or 3600)
        key = (str(meta["uid"]), sa, audience, str(expiry))
        now = self.clock.now()
        cached = self._tokens.get(key)
        if cached is not None and now < cached.issued + 0.8 * (cached.expires - cached.issued):
            return cached.token
        body: Obj = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": expiry,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
            },
        }
        if audience:
            body["spec"]["audiences"] = [audience]
        try:
            answer = await self.rest.request(
                "POST", SERVICE_ACCOUNTS.path(str(meta.get("namespace")), sa, "token"), body=body
            )
        except errors.StatusError as exc:
            raise ConfigError(f"failed to fetch token: {exc}") from exc
        token = str((answer.get("status") or {}).get("token") or "").encode()
        lifetime = expiry
        with contextlib.suppress(KeyError, ValueError, TypeError):
            got = answer["status"]["expirationTimestamp"]
            lifetime = int(datetime.fromisoformat(got.replace("Z", "+00:00")).timestamp() - time.time())
        self._tokens[key] = _Token(token, now, now + max(lifetime, 1))
        return token

    # ---- teardown ------------------------------------------------------------------------------------
    def _unmount(self, uid: str) -> None:
        empty = self.pod_dir(uid) / "volumes" / "kubernetes.io~empty-dir"
        if empty.is_dir():
            libc = ctypes.CDLL(None, use_errno=True)
            for path in empty.iterdir():
                if os.path.ismount(path):
                    libc.umount2(str(path).encode(), _MNT_DETACH)

    def cleanup(self, uid: str) -> None:
        """Remove a pod's volumes (unmounting its tmpfs volumes first); its hostPath volumes stay."""
        self._refreshed.pop(uid, None)
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]
        self._unmount(uid)
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)

    def unmount_all(self) -> None:
        """Unmount every pod's tmpfs volumes (the node goes away for good: no mount may outlive it)."""
        if self.root.is_dir():
            for pod_dir in self.root.iterdir():
                self._unmount(pod_dir.name)
