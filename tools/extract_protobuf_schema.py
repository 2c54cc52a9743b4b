#!/usr/bin/env python3
"""Extract the Kubernetes protobuf schema from a kubectl binary into a compact table.

Why: kubectl's typed clients send request bodies as
``application/vnd.kubernetes.protobuf``. To decode them the server needs the
field numbers of every built-in type. The kubectl binary embeds them exactly:
every ``k8s.io/.../generated.pb.go`` registers its gzip-compressed
``FileDescriptorProto`` (67 files in v1.32). This dev-time script finds those
gzip streams, parses the descriptors with a tiny wire-format reader (no
``protobuf`` package needed) and writes ``src/pinnace/api/data/protobuf_v1_32.json``,
which ``pinnace.api.protobuf`` loads at run time. It is not imported by the package.

Table layout (``"messages"`` maps a message's full proto name, without the
leading dot, to its fields)::

    [number, json_name, kind, flags]

``flags`` is a bit set: ``1`` the field is repeated; ``2`` the Go field is a
pointer (the descriptor lacks ``(gogoproto.nullable) = false``), so its
presence on the wire means "set" and a zero value ("", 0, false, {}) is kept;
non-pointer fields are always written by Go's marshaller, so their zero values
are dropped as JSON's ``omitempty`` would; ``4`` the field is a Go embedded
struct with ``json:",inline"`` (``Volume.volumeSource``, ``Probe.handler``):
its fields go into the parent object. Pointer-ness comes from the gogo options
kept in the embedded descriptors, which is exact; ``--compare-defaults`` lists
where the older heuristic ("the OpenAPI description mentions a default")
would disagree.

``kind`` is one of: ``string``, ``bytes`` (JSON: base64), ``bool``, ``int``
(int32/int64/enum varint, two's complement), ``uint`` (uint32/uint64),
``sint`` (zigzag), ``fixed32``, ``fixed64``, ``sfixed32``, ``sfixed64``,
``float``, ``double``; ``message:<full name>``; ``map:<key kind>:<value kind>``
(a repeated ``XEntry`` with ``map_entry``, key=1, value=2; JSON: an object);
``list:<kind>`` (a message that only wraps a Go slice: one repeated ``items``
field numbered 1, e.g. ``meta.v1.Verbs``; JSON: a plain list); and the types
with their own JSON form: ``time`` (meta.v1.Time), ``microtime``,
``duration``, ``quantity`` (resource.Quantity), ``intstr`` (IntOrString),
``json`` (runtime.RawExtension and meta.v1.FieldsV1: bytes holding JSON).

Usage: ``python tools/extract_protobuf_schema.py [KUBECTL] [-o OUT]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

from pinnace.api.definitions import load_definitions

GZIP_MAGIC = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "pinnace" / "api" / "data" / "protobuf_v1_32.json"

#: gogoproto.nullable (FieldOptions extension 65001): false means a non-pointer Go field.
GOGO_NULLABLE = 65001
#: MessageOptions.map_entry.
MAP_ENTRY = 7

SCALAR_KINDS = {
    1: "double",
    2: "float",
    3: "int",
    4: "uint",
    5: "int",
    6: "fixed64",
    7: "fixed32",
    8: "bool",
    9: "string",
    12: "bytes",
    13: "uint",
    14: "int",  # enum
    15: "sfixed32",
    16: "sfixed64",
    17: "sint",
    18: "sint",
}
TYPE_MESSAGE = 11
FLAG_REPEATED, FLAG_POINTER, FLAG_INLINE = 1, 2, 4
LABEL_REPEATED = 3

META = "k8s.io.apimachinery.pkg.apis.meta.v1."
SPECIAL_KINDS = {
    META + "Time": "time",
    META + "MicroTime": "microtime",
    META + "Duration": "duration",
    META + "FieldsV1": "json",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "json",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intstr",
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def wire_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Every (field number, value) of one message; values are ints or raw bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _first(fields: list[tuple[int, int | bytes]], number: int, default: Any = None) -> Any:
    for n, v in fields:
        if n == number:
            return v
    return default


def find_descriptors(binary: bytes) -> list[bytes]:
    """The decompressed ``FileDescriptorProto``s of every ``*generated.proto`` in a binary."""
    found: list[bytes] = []
    pos = binary.find(GZIP_MAGIC)
    while pos >= 0:
        try:
            data = zlib.decompressobj(31).decompress(binary[pos : pos + (4 << 20)])
        except zlib.error:
            data = b""
        if data[:1] == b"\x0a":  # field 1 (name), length-delimited
            try:
                name = _first(wire_fields(data), 1, b"")
            except (ValueError, IndexError):
                name = b""
            if isinstance(name, bytes) and name.endswith(b"generated.proto"):
                found.append(data)
        pos = binary.find(GZIP_MAGIC, pos + 1)
    return found


class Field:
    """One parsed FieldDescriptorProto."""

    def __init__(self, raw: bytes) -> None:
        f = wire_fields(raw)
        self.name: str = _first(f, 1, b"").decode()
        self.number: int = _first(f, 3, 0)
        self.repeated = _first(f, 4, 1) == LABEL_REPEATED
        self.type: int = _first(f, 5, 0)
        self.type_name: str = _first(f, 6, b"").decode().lstrip(".")
        json_name: bytes = _first(f, 10, b"")
        self.json_name = json_name.decode() or self.name
        options = _first(f, 8, b"")
        self.pointer = _first(wire_fields(options), GOGO_NULLABLE, 1) != 0
        self.inline = False


def parse_messages(descriptor: bytes, into: dict[str, list[Field]], map_entries: set[str]) -> str:
    """Add every message (nested ones too) of one file to ``into``; return the package."""
    fd = wire_fields(descriptor)
    package = _first(fd, 2, b"").decode()

    def walk(raw: bytes, prefix: str) -> None:
        m = wire_fields(raw)
        full = f"{prefix}.{_first(m, 1, b'').decode()}"
        into[full] = [Field(v) for n, v in m if n == 2 and isinstance(v, bytes)]
        if _first(wire_fields(_first(m, 7, b"")), MAP_ENTRY, 0):
            map_entries.add(full)
        for n, v in m:
            if n == 3 and isinstance(v, bytes):
                walk(v, full)

    for n, v in fd:
        if n == 4 and isinstance(v, bytes):
            walk(v, package)
    return package


def build_table(descriptors: list[bytes]) -> tuple[dict[str, list[list[Any]]], list[str]]:
    """The compact table and the notes (json names that differ from the proto names) for the report."""
    messages: dict[str, list[Field]] = {}
    map_entries: set[str] = set()
    for d in descriptors:
        parse_messages(d, messages, map_entries)
    notes = fix_json_names(messages, map_entries)

    defs = load_definitions()
    wrappers = {  # Go slice types (Verbs, ExtraValue): not objects in the OpenAPI
        name
        for name, fields in messages.items()
        if len(fields) == 1
        and fields[0].name == "items"
        and fields[0].number == 1
        and fields[0].repeated
        and definition_of(name, defs) is None
    }

    def kind_of(f: Field) -> str:
        if f.type != TYPE_MESSAGE:
            return SCALAR_KINDS[f.type]
        name = f.type_name
        if name in SPECIAL_KINDS:
            return SPECIAL_KINDS[name]
        if name in wrappers:
            return "list:" + kind_of(messages[name][0])
        if name in map_entries:
            key, value = sorted(messages[name], key=lambda x: x.number)
            return f"map:{kind_of(key)}:{kind_of(value)}"
        if name not in messages:
            raise KeyError(f"{name} is referenced but not described")
        return "message:" + name

    table: dict[str, list[list[Any]]] = {}
    for name in sorted(messages):
        if name in map_entries:
            continue
        rows: list[list[Any]] = []
        for f in sorted(messages[name], key=lambda x: x.number):
            kind = kind_of(f)
            repeated = f.repeated and not kind.startswith("map:")
            flags = (FLAG_REPEATED if repeated else 0) | (FLAG_POINTER if f.pointer else 0)
            flags |= FLAG_INLINE if f.inline else 0
            rows.append([f.number, f.json_name, kind, flags])
        table[name] = rows
    return table, notes


_VERSIONED = re.compile(r"^(.*)\.(v\d+(?:alpha\d+|beta\d+)?)\.([^.]+)$")


def definition_of(message: str, defs: dict[str, Any], *, exact: bool = False) -> dict[str, Any] | None:
    """The OpenAPI definition of a proto message (``k8s.io.X`` ↔ ``io.k8s.X``), if any.

    Versions that v1.32 no longer serves (``admissionregistration/v1beta1``,
    ``networking/v1beta1``…) have no definitions; the same kind in another
    version of the group stands in for renames and inlining (not with ``exact``).
    """
    name = "io.k8s." + message.removeprefix("k8s.io.")
    if name in defs:
        return dict(defs[name])
    match = _VERSIONED.match(name)
    if exact or not match:
        return None
    prefix, _version, kind = match.groups()
    for other in sorted(defs):
        m = _VERSIONED.match(other)
        if m and m.group(1) == prefix and m.group(3) == kind:
            return dict(defs[other])
    return None


def fix_json_names(messages: dict[str, list[Field]], map_entries: set[str]) -> list[str]:
    """Make json names agree with the OpenAPI v1.32 property names; return what was changed.

    Two kinds of difference exist in v1.32: proto names spelled differently from
    the JSON tag (``Webhooks``, ``uID``, ``aPIGroup``: fixed by a case-insensitive
    match), and Go embedded structs with ``json:",inline"`` (``Volume.volumeSource``,
    ``Probe.handler``, ``ConfigMapKeySelector.localObjectReference``…): their
    fields belong to the parent object, so they are marked inline.
    """
    defs = load_definitions()

    def json_names(message: str) -> list[str]:
        """The JSON keys a message contributes, with inline fields flattened."""
        out: list[str] = []
        for f in messages.get(message, []):
            out.extend(json_names(f.type_name) if f.inline else [f.json_name])
        return out

    notes: dict[str, str] = {}
    changed = True
    while changed:  # to a fixed point: an inline struct may itself inline another
        changed = False
        for name, fields in sorted(messages.items()):
            definition = definition_of(name, defs)
            if name in map_entries or definition is None or "properties" not in definition:
                continue
            props: dict[str, Any] = definition["properties"]
            by_lower = {p.lower(): p for p in props}
            for f in fields:
                key = f"{name}.{f.name}"
                if f.inline or f.json_name in props:
                    continue
                if f.json_name.lower() in by_lower:
                    f.json_name = by_lower[f.json_name.lower()]
                    notes[key] = f"{key} -> {f.json_name}"
                elif f.type == TYPE_MESSAGE and not f.repeated and all(n in props for n in json_names(f.type_name)):
                    f.inline = changed = True
                    notes[key] = f"{key} -> inline {f.type_name}"
                elif definition_of(name, defs, exact=True) is not None:
                    notes[key] = f"{key}: UNRESOLVED, not an OpenAPI property"
    # Groups with no definitions at all (extensions/v1beta1): a field embeds its
    # struct inline if the same kind's same field does so in another group.
    inline = {(n.rsplit(".", 1)[1], f.name) for n, fs in messages.items() for f in fs if f.inline}
    for name, fields in messages.items():
        for f in fields:
            if not f.inline and (name.rsplit(".", 1)[1], f.name) in inline and definition_of(name, defs) is None:
                f.inline = True
                notes[f"{name}.{f.name}"] = f"{name}.{f.name} -> inline {f.type_name} (as in other groups)"
    return sorted(notes.values())


def default_heuristic_diffs(table: dict[str, list[list[Any]]]) -> list[str]:
    """Scalar fields where "description mentions a default" disagrees with Go pointer-ness."""
    defs = load_definitions()
    pattern = re.compile(r"[Dd]efault")
    out: list[str] = []
    for name, rows in table.items():
        definition = definition_of(name, defs)
        if not definition:
            continue
        for _number, json_name, kind, flags in rows:
            if kind not in ("int", "uint", "bool", "sint") or flags & FLAG_REPEATED:
                continue
            prop = definition.get("properties", {}).get(json_name, {})
            heuristic = bool(pattern.search(prop.get("description", "")))
            if heuristic != bool(flags & FLAG_POINTER):
                out.append(f"{name}.{json_name}: pointer={bool(flags & FLAG_POINTER)} default-mentioned={heuristic}")
    return out


def kubectl_version(path: str) -> str:
    """The client gitVersion of a kubectl binary, or "unknown"."""
    try:
        out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, timeout=30, check=True)
        return str(json.loads(out.stdout)["clientVersion"]["gitVersion"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kubectl", nargs="?", default=shutil.which("kubectl"), help="kubectl binary (default: on PATH)")
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="output JSON file")
    ap.add_argument(
        "--compare-defaults",
        action="store_true",
        help="print where the OpenAPI 'default' heuristic and the descriptor's pointer flag disagree",
    )
    args = ap.parse_args(argv)
    if not args.kubectl:
        ap.error("no kubectl on PATH; pass its path")
    path = os.path.realpath(args.kubectl)
    descriptors = find_descriptors(Path(path).read_bytes())
    if not descriptors:
        print(f"no generated.proto descriptors found in {path}", file=sys.stderr)
        return 1
    table, notes = build_table(descriptors)
    for note in notes:
        print("json name:", note, file=sys.stderr)
    if any("UNRESOLVED" in note for note in notes):
        return 1
    if args.compare_defaults:
        for line in default_heuristic_diffs(table):
            print("default heuristic:", line, file=sys.stderr)
    doc = {
        "format": 1,
        "source": f"kubectl {kubectl_version(path)}: {len(descriptors)} generated.proto descriptors",
        "layout": "messages: {full name: [[number, json_name, kind, flags]]}; flags: 1 repeated, 2 pointer "
        "(keep zero values), 4 inline (embedded struct); see tools/extract_protobuf_schema.py",
        "messages": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"{args.out}: {len(table)} messages from {len(descriptors)} descriptors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
