"""Duplicate fields in a request body, as kube-apiserver's strict decoders report them.

Under ``fieldValidation=Strict`` or ``Warn`` upstream decodes JSON with
sigs.k8s.io/json's strict mode, which reports each repeated key as
``duplicate field "<path>"`` (the path as for unknown fields:
``spec.template.spec.containers[0].image``), and converts YAML with
``YAMLToJSONStrict``, which reports ``yaml: unmarshal errors:`` and one
``line N: key "k" already set in map`` per repeat. Our parsers (orjson,
PyYAML) keep the last value silently, so duplicates need a pass of their own.

JSON is the hot path (every create and update), so the exact pass runs only
when a cheap test says a key may be repeated: every key is followed by a colon,
and serialising the parsed object again (orjson, compact) keeps every colon of
the string values and loses one per repeated key. So a body with no more colons
than its re-serialisation has no duplicate; whitespace cannot hide one (only
a string that spells a colon ``\\u003a`` could, and no client writes that).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml

from pinnace.api import goyaml


def json_duplicates(body: bytes, parsed: Any) -> list[str]:
    """``duplicate field "<path>"`` for each repeated key in the JSON ``body`` (``parsed`` is its value)."""
    if body.count(b":") <= orjson.dumps(parsed).count(b":"):
        return []
    try:
        pairs = json.loads(body, object_pairs_hook=_Pairs)
    except ValueError:
        return []
    found: list[str] = []
    _collect(pairs, "", found)
    return list(dict.fromkeys(found))  # one message per path, as upstream dedupes them


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs in document order, repeats kept."""


def _collect(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            child = f"{path}.{key}" if path else key
            if key in seen:
                found.append(f'duplicate field "{child}"')
            seen.add(key)
            _collect(item, child, found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect(item, f"{path}[{i}]", found)


def yaml_duplicates(body: bytes) -> str | None:
    """The ``yaml: unmarshal errors:`` message for repeated mapping keys in a YAML ``body``, else None."""
    if body.count(b":") < 2:
        return None
    lines: list[tuple[int, str]] = []
    try:
        root = yaml.compose(body, Loader=_COMPOSER)
    except yaml.YAMLError:
        return None
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            # A key is its resolved type and value, as go-yaml's strict decode compares them: ``1`` (an int) and
            # ``"1"`` (a string) are two keys there, though both become "1" in JSON (where one of them is kept);
            # ``y`` and ``Y`` (both true), or ``1`` and ``0x1``, are one.
            seen: set[tuple[str, Any]] = set()
            for key, item in node.value:
                if isinstance(key, yaml.ScalarNode):
                    kind, value, shown = goyaml.scalar_key(key)
                    if (kind, value) in seen:
                        line = key.start_mark.line + 1
                        lines.append((line, f"line {line}: key {shown} already set in map"))
                    seen.add((kind, value))
                stack.append(item)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    if not lines:
        return None
    return "yaml: unmarshal errors:\n  " + "\n  ".join(text for _, text in sorted(lines))


_COMPOSER: Any = goyaml.LOADER
