"""Finding kubeconfig files and merging them into one view, by client-go's loading rules.

Which files (``clientcmd.ClientConfigLoadingRules``):

1. an explicit path (``--kubeconfig``): only that file, and it must exist;
2. else every path in ``KUBECONFIG`` (split on ``os.pathsep``, empty entries
   and repeats dropped); files that do not exist are skipped;
3. else ``~/.kube/config`` (skipped if absent).

How they merge: for each named cluster, user (``users``/AuthInfos) and
context, the *first* file that defines the name wins, whole; so does the
first non-empty ``current-context``. Paths inside a file (certificate-authority,
client-certificate, client-key, tokenFile, and an exec command that contains
a path separator) are relative to that file's directory and are made absolute
before merging, so an entry keeps meaning what its own file said.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pinnace.client.exceptions import ConfigError

__all__ = ["Kubeconfig", "kubeconfig_paths", "load_kubeconfig", "load_kubeconfig_files"]

Obj = dict[str, Any]

_SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}
_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")


@dataclass(slots=True)
class Kubeconfig:
    """The merged view of one or more kubeconfig files."""

    clusters: dict[str, Obj] = field(default_factory=dict)
    users: dict[str, Obj] = field(default_factory=dict)
    contexts: dict[str, Obj] = field(default_factory=dict)
    current_context: str = ""
    files: list[Path] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing was configured (client-go then falls back to the in-cluster config)."""
        return not (self.clusters or self.users or self.contexts or self.current_context)

    def describe_files(self) -> str:
        """The files this view came from, for error messages."""
        return ", ".join(str(f) for f in self.files) or "no kubeconfig file"


def kubeconfig_paths(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """The files to read, in precedence order (see the module docstring)."""
    env = os.environ if environ is None else environ
    if explicit:
        return [Path(explicit).expanduser()]
    raw = env.get("KUBECONFIG", "")
    if raw:
        seen: list[Path] = []
        for entry in raw.split(os.pathsep):
            path = Path(entry).expanduser() if entry else None
            if path is not None and path not in seen:
                seen.append(path)
        return seen
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return [home / ".kube" / "config"]


def load_kubeconfig(
    explicit: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Kubeconfig:
    """The merged kubeconfig an explicit path, ``KUBECONFIG`` or ``~/.kube/config`` describes."""
    return load_kubeconfig_files(kubeconfig_paths(explicit, environ), must_exist=bool(explicit))


def load_kubeconfig_files(paths: list[Path], *, must_exist: bool = False) -> Kubeconfig:
    """Merge ``paths`` (first wins); missing files are skipped unless ``must_exist``."""
    merged = Kubeconfig()
    for path in paths:
        data = _read(path, must_exist)
        if data is None:
            continue
        merged.files.append(path)
        base = path.absolute().parent
        for section, inner in _SECTIONS.items():
            target: dict[str, Obj] = getattr(merged, section)
            for name, entry in _named_entries(data, section, inner, path):
                if name not in target:
                    target[name] = _resolve_paths(section, entry, base)
        current = data.get("current-context")
        if current and not merged.current_context:
            merged.current_context = str(current)
    return merged


def _read(path: Path, must_exist: bool) -> Obj | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(f"kubeconfig {path} does not exist") from None
        return None
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror or e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig: expected a mapping, got {type(data).__name__}")
    return data


def _named_entries(data: Obj, section: str, inner: str, path: Path) -> list[tuple[str, Obj]]:
    entries = data.get(section) or []
    if not isinstance(entries, list):
        raise ConfigError(f"kubeconfig {path}: {section} must be a list")
    out: list[tuple[str, Obj]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError(f"kubeconfig {path}: {section}[{i}] has no name")
        body = entry.get(inner) or {}
        if not isinstance(body, dict):
            raise ConfigError(f"kubeconfig {path}: {section}[{i}] ({entry['name']}): {inner} must be a mapping")
        out.append((str(entry["name"]), dict(body)))
    return out


def _resolve_paths(section: str, entry: Obj, base: Path) -> Obj:
    keys = _CLUSTER_PATHS if section == "clusters" else _USER_PATHS if section == "users" else ()
    for key in keys:
        if entry.get(key):
            entry[key] = str(base / os.path.expanduser(str(entry[key])))
    exec_cfg = entry.get("exec") if section == "users" else None
    if isinstance(exec_cfg, dict):
        command = str(exec_cfg.get("command") or "")
        if os.sep in command:  # only commands given as paths; bare names are looked up on PATH
            exec_cfg = dict(exec_cfg, command=str(base / command))
            entry["exec"] = exec_cfg
    return entry
