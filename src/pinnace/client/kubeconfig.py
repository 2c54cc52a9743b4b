"""kubeconfig files: writing a cluster's, and merging it into the user's, as kind does.

The user's file is the first path in ``KUBECONFIG`` (if set), else
``~/.kube/config``. Merging replaces the entries of the same name (cluster,
user, context) and keeps everything else; the current context switches to
the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]


def build(name: str, server: str, *, user: Obj | None = None, namespace: str | None = None) -> Obj:
    """A kubeconfig with one cluster, one user and one context, all called ``name``."""
    context: Obj = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": user or {}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }


def user_kubeconfig_path() -> Path:
    """Where the user's kubeconfig lives (first KUBECONFIG entry, else ~/.kube/config)."""
    env = os.environ.get("KUBECONFIG", "")
    for entry in env.split(os.pathsep):
        if entry:
            return Path(entry).expanduser()
    return Path.home() / ".kube" / "config"


def load(path: Path) -> Obj:
    """A kubeconfig file's contents (an empty config if absent or empty)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        data = {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not a kubeconfig: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a kubeconfig (expected a mapping)")
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        if data.get(section) is None:
            data[section] = []
    return data


def write(path: Path, config: Obj) -> None:
    """Write a kubeconfig atomically, readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kubeconfig-")
    try:
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(config, fh, default_flow_style=False, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge(existing: Obj, addition: Obj, *, set_current: bool = True) -> Obj:
    """``existing`` with ``addition``'s named entries added or replaced."""
    out = dict(existing)
    for section in ("clusters", "users", "contexts"):
        new_entries = addition.get(section) or []
        names = {e["name"] for e in new_entries}
        out[section] = [e for e in existing.get(section) or [] if e.get("name") not in names] + new_entries
    if set_current and addition.get("current-context"):
        out["current-context"] = addition["current-context"]
    return out


def remove(existing: Obj, name: str) -> Obj:
    """``existing`` without the cluster, user and context called ``name``."""
    out = dict(existing)
    for section in ("clusters", "users", "contexts"):
        out[section] = [e for e in existing.get(section) or [] if e.get("name") != name]
    if out.get("current-context") == name:
        out["current-context"] = ""
    return out


def merge_into_user_config(addition: Obj, path: Path | None = None) -> Path:
    """Merge ``addition`` into the user's kubeconfig; returns the file written."""
    target = path or user_kubeconfig_path()
    write(target, merge(load(target), addition))
    return target


def server_of(config: Obj, context: str | None = None) -> str:
    """The server URL of a context (default: the current one)."""
    ctx_name = context or config.get("current-context")
    ctx = next((c["context"] for c in config.get("contexts") or [] if c.get("name") == ctx_name), None)
    if ctx is None:
        raise ValueError(f"context {ctx_name!r} not found in kubeconfig")
    cluster = next((c["cluster"] for c in config.get("clusters") or [] if c.get("name") == ctx.get("cluster")), None)
    if cluster is None:
        raise ValueError(f"cluster {ctx.get('cluster')!r} not found in kubeconfig")
    return str(cluster["server"])
