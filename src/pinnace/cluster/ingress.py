"""Ingress in a local cluster: the default IngressClass, and the ingress controller behind it.

As k3s ships Traefik (and kind users add ingress-nginx), ``pinnace up`` serves
``networking.k8s.io/v1`` Ingresses: the controller manager runs
:class:`pinnace.ingress.IngressController` on the host's address — ports 80 and
443 as root, 8080 and 8443 otherwise (``--ingress-http-port`` /
``--ingress-https-port``; 0 turns a listener off) — and the IngressClass
``pinnace`` (controller ``pinnace.dev/ingress``) is made the default at the
first start of a data directory, so Ingresses that name no class are served
too. A port already taken is retried with back-off (said once in the log), as
the cluster DNS does with its address.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.cluster.selfendpoint import serve_with_retries
from pinnace.cluster.storageclass import install_once

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer
    from pinnace.client.rest import RestClient

__all__ = [
    "INGRESS_CLASS",
    "INGRESS_CONTROLLER",
    "MARKER",
    "IngressEndpoint",
    "default_ingress_class",
    "default_ingress_ports",
    "install_default_ingress_class",
]

INGRESS_CLASS = "pinnace"
INGRESS_CONTROLLER = "pinnace.dev/ingress"
#: In the data directory: the default IngressClass was installed (or found) once; it is left to the user since.
MARKER = "default-ingressclass-installed"
ANN_DEFAULT_INGRESS_CLASS = "ingressclass.kubernetes.io/is-default-class"


def default_ingress_ports() -> tuple[int, int]:
    """The HTTP and HTTPS ports the ingress controller listens on unless told: 80 and 443 as root (as k3s's
    Traefik), 8080 and 8443 otherwise (ports below 1024 need root)."""
    return (80, 443) if os.geteuid() == 0 else (8080, 8443)


def default_ingress_class() -> dict[str, Any]:
    """The IngressClass ``pinnace``: the cluster's default, served by the ingress controller."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": INGRESS_CLASS, "annotations": {ANN_DEFAULT_INGRESS_CLASS: "true"}},
        "spec": {"controller": INGRESS_CONTROLLER},
    }


async def install_default_ingress_class(server: APIServer, data_dir: Path) -> None:
    """Create the default IngressClass at the first start of ``data_dir`` (then it is the user's)."""
    await install_once(server, data_dir, MARKER, ("networking.k8s.io", "v1", "ingressclasses"), default_ingress_class())


@dataclass
class IngressEndpoint:
    """The ingress controller, run by the controller manager: serves HTTP on ``host:http_port`` (and HTTPS on
    ``https_port`` unless 0), reporting ``address`` in the Ingresses' status. A runnable without leader election."""

    rest: RestClient
    host: str
    http_port: int
    https_port: int
    address: str
    name: str = "ingress"
    needs_leader_election: bool = False

    async def run(self) -> None:
        """Serve until cancelled; ports not bindable yet (taken) are retried with back-off, said once."""
        from pinnace.ingress import IngressConfig, IngressController

        async def serve() -> None:
            controller = IngressController(self.rest, IngressConfig(class_name=INGRESS_CLASS,
                                                                    controller_name=INGRESS_CONTROLLER,
                                                                    address=self.address))  # fmt: skip
            await controller.run(self.host, self.http_port, self.https_port or None)

        where = f"ingress on {self.host}:{self.http_port}" + (f" and :{self.https_port}" if self.https_port else "")
        await serve_with_retries(serve, where, (OSError,), _nothing)


async def _nothing() -> None:
    """Nothing to undo when the ingress controller stops (the Ingresses' status stays as a load balancer's does)."""
