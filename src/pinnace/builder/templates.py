"""The files ``pinnace builder`` writes, as ``string.Template`` texts (``$name`` placeholders).

Markers of the form ``# +pinnace:scaffold:<what>`` in generated files tell
``create api`` where to add lines later, as kubebuilder's scaffold markers do;
keep them when editing the generated code.
"""

from __future__ import annotations

from string import Template

PYPROJECT = Template("""[build-system]
requires = ["hatchling>=1.20"]
build-backend = "hatchling.build"

[project]
name = "$repo"
version = "0.1.0"
description = "An operator for $domain, built with the Pinnace SDK."
requires-python = ">=3.11"
dependencies = ["pinnace"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.23"]

[project.scripts]
$repo = "$package.main:main"

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
""")

PROJECT_FILE = Template("""# Written by `pinnace builder`; read by its subcommands. Edit with care.
domain: $domain
repo: $repo
package: $package
resources: []
""")

README = Template("""# $repo

An operator for `$domain`, scaffolded by `pinnace builder`.

```sh
pip install -e '.[test]'                               # the operator and its test dependencies
python -m pytest                                        # tests run against an in-process Pinnace API server
pinnace builder create api --group G --version V --kind K   # add a kind and its controller
pinnace builder generate                                # regenerate config/crd/ from the models
pinnace builder install                                 # apply the CRDs to the current kubeconfig's cluster
pinnace builder run                                     # run the manager against that cluster
```

Models (the kinds' spec and status) live in `src/$package/api/`, controllers in
`src/$package/controllers/`, generated CRDs in `config/crd/`.
""")

PACKAGE_INIT = Template('''"""The $repo operator."""
''')

API_INIT = Template('''"""The kinds this operator serves: typed models, one module per group and version."""

from pinnace.runtime.typed import CustomResource

# +pinnace:scaffold:imports

#: Every typed kind of the project (``pinnace builder generate`` writes a CRD for each).
MODELS: list[type[CustomResource]] = [
    # +pinnace:scaffold:models
]
''')

CONTROLLERS_INIT = Template('''"""The controllers of this operator; ``main`` adds each to the manager."""

from collections.abc import Awaitable, Callable

from pinnace.runtime import Controller, Manager

# +pinnace:scaffold:imports

#: One setup function per controller: adds it to a manager.
CONTROLLERS: list[Callable[[Manager], Awaitable[Controller]]] = [
    # +pinnace:scaffold:controllers
]
''')

MAIN = Template('''"""Runs the $repo manager against the cluster of the current kubeconfig."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pinnace.client import load_client_config
from pinnace.runtime import Manager, ManagerOptions

from $package.controllers import CONTROLLERS


async def run(args: argparse.Namespace) -> int:
    """Build the manager, add every controller, serve until a signal."""
    rest = load_client_config(args.kubeconfig, args.context).rest_client()
    options = ManagerOptions(
        leader_election=args.leader_elect,
        leader_election_id="$leader_id",
        health_probe_bind_address=args.health_probe_bind_address,
        metrics_bind_address=args.metrics_bind_address,
    )
    manager = Manager(rest, options)
    for setup in CONTROLLERS:
        await setup(manager)
    try:
        return await manager.run_until_signal()
    finally:
        await rest.close()


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description="The $repo operator.")
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--context", default=None)
    parser.add_argument("--leader-elect", action="store_true")
    parser.add_argument("--health-probe-bind-address", default="127.0.0.1:8081")
    parser.add_argument("--metrics-bind-address", default="127.0.0.1:8080")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
''')

MODEL = Template('''"""$kind in $group/$version."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from pinnace.runtime.typed import CRDInfo, CustomResource, PrinterColumn


class ${kind}Spec(BaseModel):
    """The desired state of a $kind."""

    foo: str = Field("", description="An example field; replace it with your own.")


class ${kind}Status(BaseModel):
    """The observed state of a $kind."""

    conditions: list[dict[str, Any]] = []


class $kind(CustomResource):
    """A $kind."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group="$group",
        version="$version",
        kind="$kind",
        printer_columns=(PrinterColumn("Foo", ".spec.foo"),),
    )
    spec: ${kind}Spec = ${kind}Spec()
    status: ${kind}Status | None = None
''')

CONTROLLER = Template('''"""The $kind controller."""

from __future__ import annotations

from pinnace.api import errors
from pinnace.runtime import Builder, Client, Controller, Manager, MergeFrom, Request, Result
from pinnace.runtime.conditions import set_status_condition

from $package.api.$module import $kind, ${kind}Status


class ${kind}Reconciler:
    """Makes the world match each $kind's spec."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Reconcile one $kind."""
        try:
            obj: $kind = await self.client.get($kind, request.name, request.namespace or None)
        except errors.NotFound:
            return Result()  # deleted: owned objects go with it
        # TODO: make the world match obj.spec here.
        before = obj.to_object()
        status = obj.status.model_copy(deep=True) if obj.status else ${kind}Status()
        changed = set_status_condition(status.conditions, "Available", "True", "Reconciled", "reconciled")
        if changed:
            obj.status = status
            await self.client.status().patch(obj, MergeFrom(before))
        return Result()


async def setup(manager: Manager) -> Controller:
    """Add the $kind controller to ``manager``."""
    return await Builder(manager).for_($kind).complete(${kind}Reconciler(manager.client))
''')

CONTROLLER_TEST = Template('''"""The $kind controller against an in-process Pinnace API server (pinnace_env)."""

from __future__ import annotations

from pathlib import Path

from pinnace.runtime.conditions import is_status_condition_true
from pinnace.cluster.testenv import TestEnv

from $package.api.$module import $kind, ${kind}Spec
from $package.controllers.$controller_module import setup

CRDS = Path(__file__).resolve().parents[1] / "config" / "crd"


async def test_${snake}_becomes_available(pinnace_env: TestEnv) -> None:
    await pinnace_env.install_crds(sorted(CRDS.glob("*.yaml")))
    manager = pinnace_env.manager()
    await setup(manager)
    await pinnace_env.start(manager)

    await pinnace_env.client.create(
        $kind(metadata={"name": "sample", "namespace": "default"}, spec=${kind}Spec(foo="bar"))
    )

    async def available() -> bool:
        obj = await pinnace_env.client.get($kind, "sample", "default")
        return obj.status is not None and is_status_condition_true(obj.status.conditions, "Available")

    await pinnace_env.eventually(available)
''')
