#!/usr/bin/env python3
"""Extract gnostic's OpenAPI v2 protobuf schema (``openapi.v2``) from a kubectl binary into a table.

Why: kubectl asks ``/openapi/v2`` for ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
(when a kind is missing from the OpenAPI v3 documents it fetched, e.g. a CRD applied in the same
file as its objects). The message is gnostic's ``openapi.v2.Document``; kubectl embeds its
descriptor (``openapiv2/OpenAPIv2.proto``, uncompressed, as protoc-gen-go's ``rawDesc``). This
dev-time script finds it and writes ``src/pinnace/api/data/openapi_v2_proto.json``, which
``pinnace.api.openapi_proto`` loads to encode the server's v2 document. It is not imported by
the package.

Table: ``{"messages": {name: {field: [number, kind, repeated, oneof]}}}`` where ``name`` is the
message's name without the ``openapi.v2.`` package, ``kind`` is ``string``, ``bool``,
``int`` (int64), ``double``, or ``message:<name>`` (``google.protobuf.Any`` stays fully qualified),
``repeated`` is 0/1 and ``oneof`` is the oneof's name or "".

Usage: ``python tools/extract_openapi_v2_proto.py [KUBECTL] [-o OUT]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_protobuf_schema import _first, _varint, wire_fields

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "pinnace" / "api" / "data" / "openapi_v2_proto.json"
NAME = b"openapiv2/OpenAPIv2.proto"
#: FileDescriptorProto fields and their wire types (name, package, dependency, message_type, enum_type,
#: options, syntax): anything else ends the descriptor.
FILE_FIELDS = {1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 8: 2, 12: 2}
KINDS = {1: "double", 3: "int", 8: "bool", 9: "string", 12: "bytes"}


def raw_descriptor(binary: bytes) -> bytes:
    """The FileDescriptorProto of openapiv2/OpenAPIv2.proto, cut where its fields end."""
    start = binary.find(b"\x0a" + bytes([len(NAME)]) + NAME)
    if start < 0:
        raise SystemExit("no openapiv2/OpenAPIv2.proto descriptor in this binary")
    pos = start
    while True:
        try:
            key, after = _varint(binary, pos)
        except IndexError:
            break
        number, wire = key >> 3, key & 7
        if FILE_FIELDS.get(number) != wire:
            break
        size, after = _varint(binary, after)
        pos = after + size
    return binary[start:pos]


def table(descriptor: bytes) -> dict[str, Any]:
    """The messages of the descriptor as the compact table."""
    messages: dict[str, dict[str, list[Any]]] = {}
    for n, raw in wire_fields(descriptor):
        if n != 4 or not isinstance(raw, bytes):
            continue
        m = wire_fields(raw)
        name = _first(m, 1, b"").decode()
        oneofs = [_first(wire_fields(v), 1, b"").decode() for k, v in m if k == 8 and isinstance(v, bytes)]
        fields: dict[str, list[Any]] = {}
        for k, v in m:
            if k != 2 or not isinstance(v, bytes):
                continue
            f = wire_fields(v)
            type_ = _first(f, 5, 0)
            kind = KINDS.get(type_)
            if type_ == 11:
                kind = "message:" + _first(f, 6, b"").decode().lstrip(".").removeprefix("openapi.v2.")
            if kind is None:
                raise SystemExit(f"{name}: field type {type_} is not handled")
            index = _first(f, 9, None)
            fields[_first(f, 1, b"").decode()] = [
                _first(f, 3, 0),
                kind,
                int(_first(f, 4, 1) == 3),
                oneofs[index] if index is not None else "",
            ]
        messages[name] = fields
    return {"messages": messages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kubectl", nargs="?", default=shutil.which("kubectl"))
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not args.kubectl:
        raise SystemExit("kubectl not found")
    result = table(raw_descriptor(Path(args.kubectl).read_bytes()))
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"{len(result['messages'])} messages -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
