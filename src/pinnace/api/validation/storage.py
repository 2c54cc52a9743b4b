"""Validation of PersistentVolume (core/v1) and the storage.k8s.io kinds, as upstream's validation package words it.

* PersistentVolume (``ValidatePersistentVolume`` and its update): access
  modes, a capacity of storage only and greater than zero, exactly one volume
  source (``must specify a volume type`` / ``may not specify more than 1
  volume type``) with each source's required fields, reclaim policy, volume
  mode, class name, node affinity (required for a local volume); mount
  options only where the volume type takes them; on update the volume source,
  volume mode and a set node affinity stay as they were.
* StorageClass: a provisioner (a qualified name), parameters (at most 512,
  256 KiB in all), reclaim policy, binding mode, allowed topologies; on update
  parameters, provisioner, reclaim policy and binding mode are frozen.
* CSIDriver: fsGroupPolicy, token requests, volume lifecycle modes; on update
  attachRequired and the lifecycle modes are frozen.
* VolumeAttachment: attacher (a CSI driver name), exactly one source, node
  name; the spec never changes. CSINode: its drivers' names, node IDs,
  topology keys; a driver's entry never changes.

These kinds are not defaulted by Pinnace (upstream sets a class's
reclaimPolicy Delete and binding mode Immediate, a volume's mode Filesystem, a
CSI driver's attachRequired true …): a missing field counts as its default, so
a check upstream makes on the defaulted object gives the same answer here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from pinnace.api import errors, names, quantity
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.validation import field
from pinnace.api.validation.field import (
    GoValue,
    Validator,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from pinnace.api.validation.resources import parse_quantity, value_of
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_dicts as _dicts
from pinnace.api.validation.shapes import as_list as _list
from pinnace.api.validation.shapes import as_str as _str

__all__ = [
    "VALIDATORS",
    "csi_driver",
    "csi_driver_name",
    "csi_node",
    "node_selector",
    "persistent_volume",
    "storage_class",
    "volume_attachment",
]

Obj = dict[str, Any]

_ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
_PV_RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
_VOLUME_MODES = ("Block", "Filesystem")
_HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket")
_CLASS_RECLAIM_POLICIES = ("Delete", "Retain")
_BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
_FS_GROUP_POLICIES = ("File", "None", "ReadWriteOnceWithFSType")
_LIFECYCLE_MODES = ("Persistent", "Ephemeral")
_INLINE = "may not be specified in the context of inline volumes"
_MOUNT_OPTIONS_ANNOTATION = "volume.beta.kubernetes.io/mount-options"
#: The volume types that take mount options (upstream ``checkMountOption``).
_MOUNTABLE = frozenset(
    {
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "glusterfs",
        "nfs",
        "rbd",
        "quobyte",
        "iscsi",
        "cinder",
        "cephfs",
        "azureFile",
        "vsphereVolume",
        "azureDisk",
        "photonPersistentDisk",
    }
)
_MAX_PARAMETERS = 512
_MAX_PARAMETERS_SIZE = 256 * 1024
_CSI_NODE_ID_MAX_LENGTH = 192
_MAX_CSI_DRIVER_NAME = 63
#: Where upstream prints a pointer inside a struct (an address; any one will do).
_POINTER = "0xc000010000"
#: A (valid) quantity's sign, digits without leading zeros, fraction and suffix.
_QUANTITY_PARTS = re.compile(r"([+-]?)0*([0-9]*)(?:\.([0-9]*))?(.*)")
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_EXPONENTS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def _subdomain(path: str, value: str) -> list[Cause]:
    return [invalid(path, value, msg) for msg in names.is_dns1123_subdomain(value)]


def _label(path: str, value: str) -> list[Cause]:
    return [invalid(path, value, msg) for msg in names.is_dns1123_label(value)]


def csi_driver_name(path: str, name: str) -> list[Cause]:
    """``ValidateCSIDriverName``: required, at most 63 bytes, a DNS subdomain once lower-cased."""
    out: list[Cause] = []
    if not name:
        out.append(required(path))
    if len(name.encode()) > _MAX_CSI_DRIVER_NAME:
        out.append(errors.too_long(path, _MAX_CSI_DRIVER_NAME))
    out.extend(invalid(path, name, msg) for msg in names.is_dns1123_subdomain(name.lower()))
    return out


def _no_backsteps(path: str, value: str) -> list[Cause]:
    """``validatePathNoBacksteps``."""
    if ".." in value.replace("\\", "/").split("/"):
        return [invalid(path, value, "must not contain '..'")]
    return []


# ---- node affinity -------------------------------------------------------------------------------


def _node_selector_requirement(req: Obj, path: str) -> list[Cause]:
    """``ValidateNodeSelectorRequirement`` (label values checked, as for a required affinity)."""
    out: list[Cause] = []
    operator = _str(req.get("operator"))
    values = _list(req.get("values"))
    if operator in ("In", "NotIn"):
        if not values:
            out.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            out.append(
                forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
            )
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            out.append(required(f"{path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        out.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
    key = _str(req.get("key"))
    out.extend(invalid(f"{path}.key", key, msg) for msg in names.is_qualified_name(key))
    for i, value in enumerate(values):
        text = value if isinstance(value, str) else str(value)
        out.extend(invalid(f"{path}.values[{i}]", text, msg) for msg in names.is_valid_label_value(text))
    return out


def _node_field_requirement(req: Obj, path: str) -> list[Cause]:
    """``ValidateNodeFieldSelectorRequirement``: only ``metadata.name``, In/NotIn with one value."""
    out: list[Cause] = []
    operator = _str(req.get("operator"))
    values = _list(req.get("values"))
    if operator in ("In", "NotIn"):
        if len(values) != 1:
            out.append(
                required(
                    f"{path}.values",
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                )
            )
    else:
        out.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
    key = _str(req.get("key"))
    if key != "metadata.name":
        out.append(invalid(f"{path}.key", key, "not a valid field selector key"))
    else:
        for i, value in enumerate(values):
            out.extend(_subdomain(f"{path}.values[{i}]", value if isinstance(value, str) else str(value)))
    return out


def node_selector(selector: Obj, path: str) -> list[Cause]:
    """``ValidateNodeSelector``: at least one term; each term's expressions and field requirements."""
    terms = selector.get("nodeSelectorTerms")
    if not isinstance(terms, list) or not terms:
        return [required(f"{path}.nodeSelectorTerms", "must have at least one node selector term")]
    out: list[Cause] = []
    for i, term in enumerate(terms):
        term = _dict(term)
        where = f"{path}.nodeSelectorTerms[{i}]"
        for j, req in enumerate(_dicts(term.get("matchExpressions"))):
            out.extend(_node_selector_requirement(req, f"{where}.matchExpressions[{j}]"))
        for j, req in enumerate(_dicts(term.get("matchFields"))):
            out.extend(_node_field_requirement(req, f"{where}.matchFields[{j}]"))
    return out


# ---- PersistentVolume ----------------------------------------------------------------------------


def _required_fields(src: Obj, path: str, *keys: str) -> list[Cause]:
    return [required(f"{path}.{key}") for key in keys if not src.get(key)]


def _partition(src: Obj, path: str) -> list[Cause]:
    partition = src.get("partition")
    if isinstance(partition, int) and not isinstance(partition, bool) and not 0 <= partition <= 255:
        return [invalid(f"{path}.partition", partition, "must be between 1 and 255, inclusive")]
    return []


def _secret_reference(ref: Any, path: str) -> list[Cause]:
    """``validatePVSecretReference``: a name (DNS subdomain) and a namespace (DNS label)."""
    ref = _dict(ref)
    out: list[Cause] = []
    name, namespace = _str(ref.get("name")), _str(ref.get("namespace"))
    out.extend(_subdomain(f"{path}.name", name) if name else [required(f"{path}.name")])
    out.extend(_label(f"{path}.namespace", namespace) if namespace else [required(f"{path}.namespace")])
    return out


def _host_path(src: Obj, path: str) -> list[Cause]:
    where = _str(src.get("path"))
    if not where:
        return [required(f"{path}.path")]
    out = _no_backsteps(f"{path}.path", where)
    type_ = src.get("type")
    if type_ is not None and type_ not in _HOST_PATH_TYPES:
        out.append(not_supported(f"{path}.type", type_, _HOST_PATH_TYPES))
    return out


def _local(src: Obj, path: str) -> list[Cause]:
    where = _str(src.get("path"))
    return _no_backsteps(f"{path}.path", where) if where else [required(f"{path}.path")]


def _nfs(src: Obj, path: str) -> list[Cause]:
    out = _required_fields(src, path, "server", "path")
    where = _str(src.get("path"))
    if not where.startswith("/"):
        out.append(invalid(f"{path}.path", where, "must be an absolute path"))
    return out


def _glusterfs(src: Obj, path: str) -> list[Cause]:
    out = _required_fields(src, path, "endpoints", "path")
    namespace = src.get("endpointsNamespace")
    if isinstance(namespace, str):
        if not namespace:
            out.append(
                invalid(
                    f"{path}.endpointsNamespace",
                    namespace,
                    "if the endpointnamespace is set, it must be a valid namespace name",
                )
            )
        else:
            out.extend(_label(f"{path}.endpointsNamespace", namespace))
    return out


def _flocker(src: Obj, path: str) -> list[Cause]:
    name, uuid = _str(src.get("datasetName")), _str(src.get("datasetUUID"))
    out: list[Cause] = []
    if not name and not uuid:
        out.append(required(path, "one of datasetName and datasetUUID is required"))
    if name and uuid:
        out.append(invalid(path, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
    if "/" in name:
        out.append(invalid(f"{path}.datasetName", name, "must not contain '/'"))
    return out


def _quobyte(src: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    registry = _str(src.get("registry"))
    if not registry:
        out.append(required(f"{path}.registry", "must be a host:port pair or multiple pairs separated by commas"))
    elif len(_str(src.get("tenant"))) >= 65:
        out.append(required(f"{path}.tenant", "must be a UUID and may not exceed a length of 64 characters"))
    else:
        for pair in registry.split(","):
            if ":" not in pair:
                out.append(
                    invalid(
                        f"{path}.registry", registry, "must be a host:port pair or multiple pairs separated by commas"
                    )
                )
    return out + _required_fields(src, path, "volume")


def _cinder(src: Obj, path: str) -> list[Cause]:
    out = _required_fields(src, path, "volumeID")
    ref = src.get("secretRef")
    if isinstance(ref, dict):
        out.extend(_required_fields(ref, f"{path}.secretRef", "name", "namespace"))
    return out


def _fc(src: Obj, path: str) -> list[Cause]:
    wwns, wwids = src.get("targetWWNs") or [], src.get("wwids") or []
    out: list[Cause] = []
    if not wwns and not wwids:
        out.append(required(f"{path}.targetWWNs", "must specify either targetWWNs or wwids, but not both"))
    if wwns and wwids:
        out.append(invalid(f"{path}.targetWWNs", wwns, "targetWWNs and wwids can not be specified simultaneously"))
    if wwns:
        lun = src.get("lun")
        if lun is None:
            out.append(required(f"{path}.lun", "lun is required if targetWWNs is specified"))
        elif isinstance(lun, int) and not 0 <= lun <= 255:
            out.append(invalid(f"{path}.lun", lun, "must be between 0 and 255, inclusive"))
    return out


def _flex(src: Obj, path: str) -> list[Cause]:
    out = _required_fields(src, path, "driver")
    for key in _dict(src.get("options")):
        namespace = key.split("/", 1)[0] if "/" in key else key
        normalized = "." + namespace.lower()
        if normalized.endswith((".kubernetes.io", ".k8s.io")):
            out.append(invalid(f"{path}.options[{key}]", key, "kubernetes.io and k8s.io namespaces are reserved"))
    return out


def _azure_file(src: Obj, path: str) -> list[Cause]:
    out = _required_fields(src, path, "secretName", "shareName")
    if src.get("secretNamespace") == "":
        out.append(required(f"{path}.secretNamespace"))
    return out


def _azure_disk(src: Obj, path: str) -> list[Cause]:
    out = _required_fields(src, path, "diskName", "diskURI")
    caching, kind, uri = src.get("cachingMode"), src.get("kind"), _str(src.get("diskURI"))
    if caching is not None and caching not in ("None", "ReadOnly", "ReadWrite"):
        out.append(not_supported(f"{path}.cachingMode", caching, ("None", "ReadOnly", "ReadWrite")))
    if kind is not None and kind not in ("Dedicated", "Managed", "Shared"):
        out.append(not_supported(f"{path}.kind", kind, ("Dedicated", "Managed", "Shared")))
    if kind == "Managed" and not uri.startswith("/subscriptions/"):
        supported = ("/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute/disks/{disk-id}",)
        out.append(not_supported(f"{path}.diskURI", uri, supported))
    if kind is not None and kind != "Managed" and not uri.startswith("https://"):
        supported = ("https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd",)
        out.append(not_supported(f"{path}.diskURI", uri, supported))
    return out


def _storageos(src: Obj, path: str) -> list[Cause]:
    name, namespace = _str(src.get("volumeName")), _str(src.get("volumeNamespace"))
    out = _label(f"{path}.volumeName", name) if name else [required(f"{path}.volumeName")]
    if namespace:
        out.extend(_label(f"{path}.volumeNamespace", namespace))
    ref = src.get("secretRef")
    if isinstance(ref, dict):
        out.extend(_required_fields(ref, f"{path}.secretRef", "name", "namespace"))
    return out


def _csi(src: Obj, path: str) -> list[Cause]:
    out = csi_driver_name(f"{path}.driver", _str(src.get("driver")))
    out.extend(_required_fields(src, path, "volumeHandle"))
    for key in (
        "controllerPublishSecretRef",
        "controllerExpandSecretRef",
        "nodePublishSecretRef",
        "nodeExpandSecretRef",
    ):
        if src.get(key) is not None:
            out.extend(_secret_reference(src[key], f"{path}.{key}"))
    return out


def _needs(*keys: str) -> Callable[[Obj, str], list[Cause]]:
    return lambda src, path: _required_fields(src, path, *keys)


def _with_partition(key: str) -> Callable[[Obj, str], list[Cause]]:
    return lambda src, path: _required_fields(src, path, key) + _partition(src, path)


#: The volume sources, in upstream's order: (JSON key, path in the "more than 1" error, path of its own checks,
#: its checks).
_SOURCES: tuple[tuple[str, str, str, Callable[[Obj, str], list[Cause]]], ...] = (
    ("hostPath", "hostPath", "hostPath", _host_path),
    ("gcePersistentDisk", "gcePersistentDisk", "persistentDisk", _with_partition("pdName")),
    ("awsElasticBlockStore", "awsElasticBlockStore", "awsElasticBlockStore", _with_partition("volumeID")),
    ("glusterfs", "glusterfs", "glusterfs", _glusterfs),
    ("flocker", "flocker", "flocker", _flocker),
    ("nfs", "nfs", "nfs", _nfs),
    ("rbd", "rbd", "rbd", _needs("monitors", "image")),
    ("quobyte", "quobyte", "quobyte", _quobyte),
    ("cephfs", "cephFS", "cephfs", _needs("monitors")),
    ("iscsi", "iscsi", "iscsi", _needs("targetPortal", "iqn")),
    ("cinder", "cinder", "cinder", _cinder),
    ("fc", "fc", "fc", _fc),
    ("flexVolume", "", "flexVolume", _flex),  # (upstream counts it without the "more than 1" check)
    ("azureFile", "azureFile", "azureFile", _azure_file),
    ("vsphereVolume", "vsphereVolume", "vsphereVolume", _needs("volumePath")),
    ("photonPersistentDisk", "photonPersistentDisk", "photonPersistentDisk", _needs("pdID")),
    ("portworxVolume", "portworxVolume", "portworxVolume", _needs("volumeID")),
    ("azureDisk", "azureDisk", "azureDisk", _azure_disk),
    ("scaleIO", "scaleIO", "scaleIO", _needs("gateway", "system", "volumeName")),
    ("local", "local", "local", _local),
    ("storageos", "storageos", "storageos", _storageos),
    ("csi", "csi", "csi", _csi),
)
_SOURCE_KEYS = tuple(source[0] for source in _SOURCES)


def _go_quantity(raw: Any) -> str:
    """``%#v`` of a ``resource.Quantity`` as ``ParseQuantity`` leaves it: the int64 form (and the input as its
    cached string when canonical) when upstream's fast path takes it, else the arbitrary-precision form."""
    text = str(raw).strip()
    q = parse_quantity(text)
    match = _QUANTITY_PARTS.fullmatch(text)
    if q is None or match is None:
        return "resource.Quantity{}"
    sign, num, denom, suffix = match[1], match[2] or "0", match[3] or "", match[4]
    if suffix in _BINARY_EXPONENTS:
        fmt, exponent = quantity.BINARY_SI, _BINARY_EXPONENTS[suffix]
        fast = not denom and len(num) + exponent * 3 // 10 < 15
        amount, scale = int(num) << exponent, 0
    else:
        fmt = quantity.DECIMAL_SI if suffix in _DECIMAL_EXPONENTS else quantity.DECIMAL_EXPONENT
        exponent = _DECIMAL_EXPONENTS.get(suffix, 0) if fmt == quantity.DECIMAL_SI else int(suffix[1:] or 0)
        scale = exponent - len(denom)
        fast = len(num) + len(denom) <= 18 and scale >= -9
        amount = int(num + denom)
    if not fast or amount >= 2**63:
        return (
            "resource.Quantity{i:resource.int64Amount{value:0, scale:0}, "
            f'd:resource.infDecAmount{{Dec:(*inf.Dec)({_POINTER})}}, s:"", Format:{go_quote(q.format)}}}'
        )
    cached = go_quote(text) if q.original is not None else '""'
    return (
        f"resource.Quantity{{i:resource.int64Amount{{value:{-amount if sign == '-' else amount}, scale:{scale}}}, "
        f"d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:{cached}, Format:{go_quote(fmt)}}}"
    )


def _go_resource_list(values: Any) -> GoValue:
    """``%#v`` of a ``core.ResourceList`` (keys sorted, as fmt prints maps)."""
    if values is None:
        return GoValue("core.ResourceList(nil)")
    entries = _dict(values)
    return GoValue(
        "core.ResourceList{" + ", ".join(f"{go_quote(k)}:{_go_quantity(entries[k])}" for k in sorted(entries)) + "}"
    )


def _capacity(spec: Obj, path: str) -> list[Cause]:
    capacity = spec.get("capacity")
    entries = _dict(capacity)
    out: list[Cause] = []
    if not entries:
        out.append(required(f"{path}.capacity"))
    if "storage" not in entries or len(entries) > 1:
        shown = _go_resource_list(capacity if isinstance(capacity, dict) else None)
        out.append(not_supported(f"{path}.capacity", shown, ("storage",)))
    for name in sorted(entries):
        q = parse_quantity(entries[name])
        if q is None:
            continue
        where = f"{path}.capacity[{name}]"
        if value_of(q) < 0:
            out.append(invalid(where, value_of(q), "must be a valid resource quantity"))
        if q.value <= 0:
            out.append(invalid(where, str(q), "must be greater than zero"))
    return out


def _access_modes(spec: Obj, path: str) -> list[Cause]:
    modes = _list(spec.get("accessModes"))
    out: list[Cause] = []
    if not modes:
        out.append(required(f"{path}.accessModes"))
    once_pod = others = False
    for mode in modes:
        if mode not in _ACCESS_MODES:
            out.append(not_supported(f"{path}.accessModes", mode, _ACCESS_MODES))
        elif mode == "ReadWriteOncePod":
            once_pod = True
        else:
            others = True
    if once_pod and others:
        out.append(forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    return out


def _volume_sources(spec: Obj, path: str, affinity_given: bool) -> list[Cause]:
    out: list[Cause] = []
    count = 0
    for key, exclusive_path, own_path, checks in _SOURCES:
        source = spec.get(key)
        if source is None:
            continue
        if count > 0 and exclusive_path:
            out.append(forbidden(f"{path}.{exclusive_path}", "may not specify more than 1 volume type"))
            continue
        count += 1
        out.extend(checks(_dict(source), f"{path}.{own_path}"))
        if key == "local" and not affinity_given:
            out.append(required(f"{path}.nodeAffinity", "Local volume requires node affinity"))
    if count == 0:
        out.append(required(path, "must specify a volume type"))
    return out


def persistent_volume_spec(spec: Obj, path: str, *, inline: bool = False) -> list[Cause]:
    """``ValidatePersistentVolumeSpec``; ``inline`` for a VolumeAttachment's inlineVolumeSpec (CSI only, no
    capacity, class, affinity or claim)."""
    out: list[Cause] = []
    if inline:
        if spec.get("claimRef") is not None:
            out.append(forbidden(f"{path}.claimRef", _INLINE))
        if spec.get("capacity"):
            out.append(forbidden(f"{path}.capacity", _INLINE))
        if spec.get("csi") is None:
            out.append(required(f"{path}.csi", "has to be specified in the context of inline volumes"))
    out.extend(_access_modes(spec, path))
    if not inline:
        out.extend(_capacity(spec, path))
    reclaim = spec.get("persistentVolumeReclaimPolicy")
    if reclaim:
        if inline and reclaim != "Retain":
            out.append(
                forbidden(
                    f"{path}.persistentVolumeReclaimPolicy", "may only be Retain in the context of inline volumes"
                )
            )
        elif not inline and reclaim not in _PV_RECLAIM_POLICIES:
            out.append(not_supported(f"{path}.persistentVolumeReclaimPolicy", reclaim, _PV_RECLAIM_POLICIES))
    affinity = spec.get("nodeAffinity")
    affinity_given = False
    if affinity is not None:
        if inline:
            out.append(forbidden(f"{path}.nodeAffinity", _INLINE))
        else:
            affinity_given = True
            selector = _dict(affinity).get("required")
            if selector is None:
                out.append(required(f"{path}.nodeAffinity.required", "must specify required node constraints"))
            else:
                out.extend(node_selector(_dict(selector), f"{path}.nodeAffinity.required"))
    out.extend(_volume_sources(spec, path, affinity_given))
    host_path = spec.get("hostPath")
    if (
        isinstance(host_path, dict)
        and posixpath.normpath(_str(host_path.get("path")) or ".") in ("/", "//")
        and reclaim == "Recycle"
    ):
        out.append(
            forbidden(f"{path}.persistentVolumeReclaimPolicy", "may not be 'recycle' for a hostPath mount of '/'")
        )
    class_name = _str(spec.get("storageClassName"))
    if class_name:
        out.extend(
            [forbidden(f"{path}.storageClassName", _INLINE)]
            if inline
            else _subdomain(f"{path}.storageClassName", class_name)
        )
    mode = spec.get("volumeMode")
    if mode is not None:
        if inline and mode != "Filesystem":
            out.append(
                forbidden(
                    f"{path}.volumeMode",
                    "may not specify volumeMode other than Filesystem in the context of inline volumes",
                )
            )
        elif not inline and mode not in _VOLUME_MODES:
            out.append(not_supported(f"{path}.volumeMode", mode, _VOLUME_MODES))
    return out


def _mount_options(obj: Obj, spec: Obj) -> list[Cause]:
    """``checkMountOption``: the mount-options annotation only on volume types that take it."""
    annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
    if _MOUNT_OPTIONS_ANNOTATION not in annotations or any(spec.get(key) is not None for key in _MOUNTABLE):
        return []
    return [
        forbidden(
            f"metadata.annotations.{_MOUNT_OPTIONS_ANNOTATION}", "may not specify mount options for this volume type"
        )
    ]


def _source_diff(new: Obj, old: Obj) -> str:
    """A short account of what changed in the volume source (upstream appends a ``cmp.Diff``)."""
    lines = []
    for key in _SOURCE_KEYS:
        if not field.semantic_equal(new.get(key), old.get(key)):
            lines.append(f"- \t{key}: {field.go_value(old.get(key))}")
            lines.append(f"+ \t{key}: {field.go_value(new.get(key))}")
    return "\n".join(lines)


def _go_node_affinity(affinity: Any) -> GoValue | None:
    if not isinstance(affinity, dict):
        return None
    pointer = _POINTER if affinity.get("required") is not None else "nil"
    return GoValue(f"core.VolumeNodeAffinity{{Required:(*core.NodeSelector)({pointer})}}")


def persistent_volume(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidatePersistentVolume`` (and the mount-options rule); on update the volume source, mode and a set
    node affinity are immutable (``ValidatePersistentVolumeUpdate``)."""
    spec = _dict(obj.get("spec"))
    out = persistent_volume_spec(spec, "spec")
    out.extend(_mount_options(obj, spec))
    if old is None:
        return out
    old_spec = _dict(old.get("spec"))
    new_sources = {key: spec.get(key) for key in _SOURCE_KEYS if spec.get(key) is not None}
    old_sources = {key: old_spec.get(key) for key in _SOURCE_KEYS if old_spec.get(key) is not None}
    new_csi, old_csi = new_sources.get("csi"), old_sources.get("csi")
    if isinstance(new_csi, dict) and isinstance(old_csi, dict) and old_csi.get("controllerExpandSecretRef") is None:
        new_sources["csi"] = {k: v for k, v in new_csi.items() if k != "controllerExpandSecretRef"}
    if not field.semantic_equal(new_sources, old_sources):
        message = "spec.persistentvolumesource is immutable after creation\n" + _source_diff(new_sources, old_sources)
        out.append(forbidden("spec.persistentvolumesource", message))
    new_mode = _or_default(spec.get("volumeMode"), "Filesystem")
    out.extend(field.immutable("volumeMode", new_mode, _or_default(old_spec.get("volumeMode"), "Filesystem")))
    old_affinity = old_spec.get("nodeAffinity")
    if old_affinity is not None and not field.semantic_equal(spec.get("nodeAffinity"), old_affinity):
        out.append(invalid("nodeAffinity", _go_node_affinity(spec.get("nodeAffinity")), field.IMMUTABLE))
    return out


# ---- StorageClass --------------------------------------------------------------------------------


def _parameters(parameters: Any) -> list[Cause]:
    """``validateParameters``: at most 512 entries, no empty key, 256 KiB of keys and values in all."""
    params = _dict(parameters)
    if len(params) > _MAX_PARAMETERS:
        return [errors.too_long("parameters", _MAX_PARAMETERS)]
    out: list[Cause] = []
    size = 0
    for key in sorted(params):
        if not key:
            out.append(invalid("parameters", key, "field can not be empty."))
        value = params[key]
        size += len(key.encode()) + len(value.encode() if isinstance(value, str) else b"")
    if size > _MAX_PARAMETERS_SIZE:
        out.append(errors.too_long("parameters", _MAX_PARAMETERS_SIZE))
    return out


def _topology_term(term: Obj, path: str) -> tuple[dict[str, frozenset[str]], list[Cause]]:
    """``ValidateTopologySelectorTerm``: each expression's values (required, unique) and key; keys unique."""
    out: list[Cause] = []
    expressions: dict[str, frozenset[str]] = {}
    for i, req in enumerate(_dicts(term.get("matchLabelExpressions"))):
        where = f"{path}.matchLabelExpressions[{i}]"
        values = [str(v) for v in _list(req.get("values"))]
        if not values:
            out.append(required(f"{where}.values"))
        seen: set[str] = set()
        for j, value in enumerate(values):
            if value in seen:
                out.append(duplicate(f"{where}.values[{j}]", value))
            seen.add(value)
        key = _str(req.get("key"))
        out.extend(invalid(f"{where}.key", key, msg) for msg in names.is_qualified_name(key))
        if key in expressions:
            out.append(duplicate(f"{where}.key", key))
        expressions[key] = frozenset(seen)
    return expressions, out


def _allowed_topologies(topologies: Any) -> list[Cause]:
    """``validateAllowedTopologies``: valid terms, no term repeated.

    Upstream compares each term with the ones before it in a list that starts
    with one empty entry per term, so a term without expressions is reported
    as a duplicate that many times; kept, as clients see it.
    """
    terms = topologies if isinstance(topologies, list) else []
    out: list[Cause] = []
    earlier: list[dict[str, frozenset[str]]] = [{} for _ in terms]
    for i, term in enumerate(terms):
        expressions, problems = _topology_term(_dict(term), f"allowedTopologies[{i}]")
        out.extend(problems)
        out.extend(
            duplicate(f"allowedTopologies[{i}].matchLabelExpressions", "") for seen in earlier if seen == expressions
        )
        earlier.append(expressions)
    return out


def storage_class(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateStorageClass``, and on update ``ValidateStorageClassUpdate`` (parameters, provisioner,
    reclaimPolicy and volumeBindingMode frozen)."""
    out: list[Cause] = []
    provisioner = _str(obj.get("provisioner"))
    if not provisioner:
        out.append(required("provisioner"))
    else:
        out.extend(invalid("provisioner", provisioner, msg) for msg in names.is_qualified_name(provisioner.lower()))
    out.extend(_parameters(obj.get("parameters")))
    reclaim = obj.get("reclaimPolicy")
    if reclaim and reclaim not in _CLASS_RECLAIM_POLICIES:
        out.append(not_supported("reclaimPolicy", reclaim, _CLASS_RECLAIM_POLICIES))
    mode = obj.get("volumeBindingMode")
    if mode is not None and mode not in _BINDING_MODES:
        out.append(not_supported("volumeBindingMode", mode, _BINDING_MODES))
    out.extend(_allowed_topologies(obj.get("allowedTopologies")))
    if old is None:
        return out
    if not field.semantic_equal(obj.get("parameters"), old.get("parameters")):
        out.append(forbidden("parameters", "updates to parameters are forbidden."))
    if provisioner != _str(old.get("provisioner")):
        out.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if _or_default(reclaim, "Delete") != _or_default(old.get("reclaimPolicy"), "Delete"):
        out.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    out.extend(
        field.immutable(
            "volumeBindingMode", _or_default(mode, "Immediate"), _or_default(old.get("volumeBindingMode"), "Immediate")
        )
    )
    return out


def _or_default(value: Any, default: Any) -> Any:
    """A defaulted field's value: upstream's default when it was left out."""
    return default if value is None else value


# ---- CSIDriver, VolumeAttachment, CSINode --------------------------------------------------------


def _token_requests(requests: Any) -> list[Cause]:
    """``validateTokenRequests``: unique audiences, expirations between 10 minutes and 2^32 seconds."""
    out: list[Cause] = []
    audiences: set[str] = set()
    for i, request in enumerate(_dicts(requests)):
        where = f"spec.tokenRequests[{i}]"
        audience = _str(request.get("audience"))
        if audience in audiences:
            out.append(duplicate(f"{where}.audience", audience))
            continue
        audiences.add(audience)
        seconds = request.get("expirationSeconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            continue
        if seconds < 600:
            out.append(
                invalid(f"{where}.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")
            )
        if seconds > 1 << 32:
            out.append(
                invalid(f"{where}.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds")
            )
    return out


def _lifecycle_modes(spec: Obj) -> list[Any]:
    modes = spec.get("volumeLifecycleModes")
    return modes if isinstance(modes, list) and modes else ["Persistent"]


def _go_lifecycle_modes(modes: list[Any]) -> GoValue:
    return GoValue("[]storage.VolumeLifecycleMode{" + ", ".join(go_quote(str(m)) for m in modes) + "}")


def csi_driver(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateCSIDriver``, and on update attachRequired and volumeLifecycleModes frozen."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    policy = spec.get("fsGroupPolicy")
    if policy is not None and policy not in _FS_GROUP_POLICIES:
        out.append(not_supported("spec.fsGroupPolicy", policy, _FS_GROUP_POLICIES))
    out.extend(_token_requests(spec.get("tokenRequests")))
    raw_modes = spec.get("volumeLifecycleModes")
    for mode in raw_modes if isinstance(raw_modes, list) else []:
        if mode not in _LIFECYCLE_MODES:
            out.append(not_supported("spec.volumeLifecycleModes", mode, _LIFECYCLE_MODES))
    if old is None:
        return out
    old_spec = _dict(old.get("spec"))
    attach, attached = _or_default(spec.get("attachRequired"), True), _or_default(old_spec.get("attachRequired"), True)
    out.extend(field.immutable("spec.attachedRequired", attach, attached))
    modes, old_modes = _lifecycle_modes(spec), _lifecycle_modes(old_spec)
    if modes != old_modes:
        out.append(invalid("spec.volumeLifecycleModes", _go_lifecycle_modes(modes), field.IMMUTABLE))
    return out


def _go_pointer(value: Any, type_name: str) -> str:
    return f"(*{type_name})(nil)" if value is None else f"(*{type_name})({_POINTER})"


def _go_attachment_spec(spec: Obj) -> GoValue:
    """``%#v`` of a ``storage.VolumeAttachmentSpec`` (its pointers as addresses, as Go prints them)."""
    source = _dict(spec.get("source"))
    return GoValue(
        "storage.VolumeAttachmentSpec{Attacher:"
        + go_quote(_str(spec.get("attacher")))
        + ", Source:storage.VolumeAttachmentSource{PersistentVolumeName:"
        + _go_pointer(source.get("persistentVolumeName"), "string")
        + ", InlineVolumeSpec:"
        + _go_pointer(source.get("inlineVolumeSpec"), "core.PersistentVolumeSpec")
        + "}, NodeName:"
        + go_quote(_str(spec.get("nodeName")))
        + "}"
    )


def volume_attachment(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateVolumeAttachment`` (with the v1 rules on create: the attacher is a CSI driver name, the volume
    name a valid one); on update the spec never changes."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    attacher = _str(spec.get("attacher"))
    if not attacher:
        out.append(required("spec.attacher"))
    source = _dict(spec.get("source"))
    pv_name, inline = source.get("persistentVolumeName"), source.get("inlineVolumeSpec")
    exactly_one = "must specify exactly one of inlineVolumeSpec and persistentVolumeName"
    if inline is None and pv_name is None:
        out.append(required("spec.source", exactly_one))
    elif inline is not None and pv_name is not None:
        out.append(forbidden("spec.source", exactly_one))
    elif pv_name is not None:
        if not pv_name:
            out.append(required("spec.source.persistentVolumeName", "must specify non empty persistentVolumeName"))
    else:
        out.extend(persistent_volume_spec(_dict(inline), "spec.source.inlineVolumeSpec", inline=True))
    out.extend(_subdomain("spec.nodeName", _str(spec.get("nodeName"))))
    if old is None:
        out.extend(csi_driver_name("spec.attacher", attacher))
        if isinstance(pv_name, str):
            out.extend(_subdomain("spec.source.persistentVolumeName", pv_name))
    elif not field.semantic_equal(spec, old.get("spec")):
        out.append(invalid("spec", _go_attachment_spec(spec), field.IMMUTABLE))
    return out


def _go_csi_node_driver(driver: Obj) -> GoValue:
    keys = driver.get("topologyKeys")
    keys_text = field.go_slice("string", keys).text
    return GoValue(
        "storage.CSINodeDriver{Name:"
        + go_quote(_str(driver.get("name")))
        + ", NodeID:"
        + go_quote(_str(driver.get("nodeID")))
        + ", TopologyKeys:"
        + keys_text
        + ", Allocatable:"
        + _go_pointer(driver.get("allocatable"), "storage.VolumeNodeResources")
        + "}"
    )


def csi_node(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateCSINode``: each driver's name, node ID, allocatable count and topology keys; on update a
    driver's entry never changes."""
    drivers = _dicts(_dict(obj.get("spec")).get("drivers"))
    out: list[Cause] = []
    seen: set[str] = set()
    for i, driver in enumerate(drivers):
        where = f"spec.drivers[{i}]"
        name, node_id = _str(driver.get("name")), _str(driver.get("nodeID"))
        out.extend(csi_driver_name(f"{where}.name", name))
        if not node_id:
            out.append(required(f"{where}.nodeID"))
        if len(node_id) > _CSI_NODE_ID_MAX_LENGTH:
            out.append(invalid(f"{where}.nodeID", node_id, f"must be {_CSI_NODE_ID_MAX_LENGTH} characters or less"))
        out.extend(field.nonnegative(f"{where}.allocatable.count", _dict(driver.get("allocatable")).get("count")))
        if name in seen:
            out.append(duplicate(f"{where}.name", name))
        seen.add(name)
        keys: set[str] = set()
        for key in _list(driver.get("topologyKeys")):
            key = key if isinstance(key, str) else str(key)
            if not key:
                out.append(required(where))
            if key in keys:
                out.append(duplicate(where, key))
            keys.add(key)
            out.extend(invalid(where, key, msg) for msg in names.is_qualified_name(key))
    if old is not None:
        for before in _dicts(_dict(old.get("spec")).get("drivers")):
            for now in drivers:
                if now.get("name") == before.get("name") and not field.semantic_equal(now, before):
                    out.append(invalid("CSINodeDriver", _go_csi_node_driver(now), field.IMMUTABLE))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "PersistentVolume"): persistent_volume,
    ("storage.k8s.io", "StorageClass"): storage_class,
    ("storage.k8s.io", "CSIDriver"): csi_driver,
    ("storage.k8s.io", "VolumeAttachment"): volume_attachment,
    ("storage.k8s.io", "CSINode"): csi_node,
}
