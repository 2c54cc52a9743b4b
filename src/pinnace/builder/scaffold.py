"""``pinnace builder``: kubebuilder's workflow for Python operators.

- :func:`init_project` lays out a project: pyproject, a ``main`` that runs a
  Manager, packages for models and controllers, a ``PROJECT`` file, README;
- :func:`create_api` adds a kind: its typed model, a reconciler wired into the
  controllers list, the generated CRD and a test that runs the reconciler
  against an in-process API server (the ``pinnace_env`` fixture);
- :func:`generate` rewrites ``config/crd/`` from the models;
- :func:`install` / :func:`uninstall` apply or delete those CRDs in a cluster;
- :func:`run` runs the manager against the current kubeconfig.

Files are never overwritten: an existing file is an error that says which.
"""

from __future__ import annotations

import importlib
import keyword
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pinnace.api import errors
from pinnace.builder import templates
from pinnace.client import load_client_config
from pinnace.client.rest import RestClient
from pinnace.runtime.crdgen import CRDS, write_crds

__all__ = ["Project", "ScaffoldError", "create_api", "generate", "init_project", "install", "run", "uninstall"]

Obj = dict[str, Any]

PROJECT_FILE = "PROJECT"
CRD_DIR = Path("config") / "crd"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")


class ScaffoldError(Exception):
    """Bad input, or a file that would be overwritten."""


@dataclass
class Project:
    """What the ``PROJECT`` file records."""

    root: Path
    domain: str
    repo: str
    package: str
    resources: list[dict[str, str]]

    @classmethod
    def load(cls, root: Path) -> Project:
        """Read ``root/PROJECT``."""
        path = root / PROJECT_FILE
        if not path.exists():
            raise ScaffoldError(f"{path} not found: run `pinnace builder init` first (or cd into the project)")
        data = yaml.safe_load(path.read_text()) or {}
        return cls(root, data["domain"], data["repo"], data["package"], list(data.get("resources") or []))

    def save(self) -> None:
        """Write ``root/PROJECT``."""
        text = templates.PROJECT_FILE.substitute(domain=self.domain, repo=self.repo, package=self.package)
        data = yaml.safe_load(text)
        data["resources"] = self.resources
        header = text.splitlines()[0]
        (self.root / PROJECT_FILE).write_text(header + "\n" + yaml.safe_dump(data, sort_keys=False))

    @property
    def src(self) -> Path:
        """The package directory."""
        return self.root / "src" / self.package


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _write(path: Path, text: str) -> Path:
    if path.exists():
        raise ScaffoldError(f"{path} already exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def init_project(root: Path, domain: str, repo: str | None = None) -> list[Path]:
    """Create a new operator project in ``root`` (which may exist but must not hold a project)."""
    if not _DNS_SUBDOMAIN.match(domain):
        raise ScaffoldError(f"--domain {domain!r} must be a DNS subdomain such as example.com")
    repo = repo or root.resolve().name
    package = re.sub(r"[^0-9a-zA-Z_]", "_", repo).lower()
    if not package.isidentifier() or keyword.iskeyword(package) or package[0].isdigit():
        raise ScaffoldError(f"--repo {repo!r} does not give a usable Python package name ({package!r})")
    if (root / PROJECT_FILE).exists():
        raise ScaffoldError(f"{root / PROJECT_FILE} exists: this directory already holds a project")
    values = {"domain": domain, "repo": repo, "package": package, "leader_id": f"{package}.{domain}"}
    src = root / "src" / package
    written = [
        _write(root / "pyproject.toml", templates.PYPROJECT.substitute(values)),
        _write(root / "README.md", templates.README.substitute(values)),
        _write(src / "__init__.py", templates.PACKAGE_INIT.substitute(values)),
        _write(src / "main.py", templates.MAIN.substitute(values)),
        _write(src / "api" / "__init__.py", templates.API_INIT.substitute(values)),
        _write(src / "controllers" / "__init__.py", templates.CONTROLLERS_INIT.substitute(values)),
        _write(root / "tests" / "__init__.py", ""),
    ]
    (root / CRD_DIR).mkdir(parents=True, exist_ok=True)
    Project(root, domain, repo, package, []).save()
    written.append(root / PROJECT_FILE)
    return written


def _insert_at_marker(path: Path, marker: str, line: str) -> None:
    text = path.read_text()
    tag = f"# +pinnace:scaffold:{marker}"
    index = text.find(tag)
    if index < 0:
        raise ScaffoldError(f"{path} has lost its `{tag}` marker; add the line yourself: {line.strip()}")
    start = text.rfind("\n", 0, index) + 1
    indent = text[start:index]
    text = text[:start] + indent + line + "\n" + text[start:]
    path.write_text(text)


def create_api(root: Path, group: str, version: str, kind: str) -> list[Path]:
    """Add a kind to the project: model, controller (wired in), CRD, test."""
    project = Project.load(root)
    if not _DNS_LABEL.match(group):
        raise ScaffoldError(f"--group {group!r} must be a lower-case DNS label (the domain is appended)")
    if not _VERSION.match(version):
        raise ScaffoldError(f"--version {version!r} must look like v1, v1alpha1 or v2beta3")
    if not _KIND.match(kind):
        raise ScaffoldError(f"--kind {kind!r} must be CamelCase, starting with an upper-case letter")
    full_group = f"{group}.{project.domain}"
    if any(r["group"] == full_group and r["kind"] == kind and r["version"] == version for r in project.resources):
        raise ScaffoldError(f"{kind} in {full_group}/{version} already exists in this project")
    module = f"{group.replace('-', '_')}_{version}"
    snake = _snake(kind)
    values = {
        "group": full_group,
        "version": version,
        "kind": kind,
        "module": module,
        "package": project.package,
        "snake": snake,
        "controller_module": snake,
    }
    model_path = project.src / "api" / f"{module}.py"
    written = []
    if model_path.exists():  # another kind of the same group/version: append to its module
        body = templates.MODEL.substitute(values).split("\n\n\n", 1)[1]
        model_path.write_text(model_path.read_text().rstrip("\n") + "\n\n\n" + body)
    else:
        written.append(_write(model_path, templates.MODEL.substitute(values)))
    written.append(_write(project.src / "controllers" / f"{snake}.py", templates.CONTROLLER.substitute(values)))
    written.append(_write(root / "tests" / f"test_{snake}_controller.py", templates.CONTROLLER_TEST.substitute(values)))
    api_init = project.src / "api" / "__init__.py"
    _insert_at_marker(api_init, "imports", f"from {project.package}.api.{module} import {kind}")
    _insert_at_marker(api_init, "models", f"{kind},")
    controllers_init = project.src / "controllers" / "__init__.py"
    _insert_at_marker(controllers_init, "imports", f"from {project.package}.controllers import {snake}")
    _insert_at_marker(controllers_init, "controllers", f"{snake}.setup,")
    project.resources.append({"group": full_group, "version": version, "kind": kind})
    project.save()
    written.extend(generate(root))
    return written


def _models(project: Project) -> list[Any]:
    src = str(project.root / "src")
    added = src not in sys.path
    if added:
        sys.path.insert(0, src)
    try:
        for name in [m for m in sys.modules if m == project.package or m.startswith(project.package + ".")]:
            del sys.modules[name]  # pick up edits made since the last import
        module = importlib.import_module(f"{project.package}.api")
        return list(module.MODELS)
    finally:
        if added:
            sys.path.remove(src)


def generate(root: Path) -> list[Path]:
    """Rewrite ``config/crd/`` from the project's models; the files written."""
    project = Project.load(root)
    directory = root / CRD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    return write_crds(_models(project), directory)


def _crds(root: Path) -> list[Obj]:
    paths = sorted((root / CRD_DIR).glob("*.yaml"))
    if not paths:
        raise ScaffoldError(f"no CRDs in {root / CRD_DIR}: run `pinnace builder generate`")
    return [doc for p in paths for doc in yaml.safe_load_all(p.read_text()) if doc]


async def _each_crd(
    root: Path, kubeconfig: str | None, context: str | None, act: Callable[[RestClient, Obj], Awaitable[bool]]
) -> list[str]:
    """Run ``act`` on every CRD of the project with a client for the cluster; the names it acted on."""
    rest = load_client_config(kubeconfig, context).rest_client()
    try:
        return [crd["metadata"]["name"] for crd in _crds(root) if await act(rest, crd)]
    finally:
        await rest.close()


async def _apply_crd(rest: RestClient, crd: Obj) -> bool:
    try:
        await rest.create(CRDS, crd)
    except errors.AlreadyExists:
        current = await rest.get(CRDS, crd["metadata"]["name"])
        crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await rest.update(CRDS, crd)
    return True


async def _delete_crd(rest: RestClient, crd: Obj) -> bool:
    try:
        await rest.delete(CRDS, crd["metadata"]["name"])
    except errors.NotFound:
        return False
    return True


async def install(root: Path, kubeconfig: str | None = None, context: str | None = None) -> list[str]:
    """Create or update the project's CRDs in the cluster; their names."""
    return await _each_crd(root, kubeconfig, context, _apply_crd)


async def uninstall(root: Path, kubeconfig: str | None = None, context: str | None = None) -> list[str]:
    """Delete the project's CRDs (and so their objects) from the cluster; the names deleted."""
    return await _each_crd(root, kubeconfig, context, _delete_crd)


def run(root: Path, args: list[str]) -> int:
    """Run the project's manager (``python -m <package>.main``) in place of this process.

    The process is replaced (exec), so signals reach the manager directly and it
    shuts down gracefully on SIGINT/SIGTERM. Returns only if the exec fails.
    """
    project = Project.load(root)
    env = {**os.environ, "PYTHONPATH": str(root / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    os.chdir(root)
    os.execve(sys.executable, [sys.executable, "-m", f"{project.package}.main", *args], env)
