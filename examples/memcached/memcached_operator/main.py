"""Run the Memcached operator against the cluster of the current kubeconfig."""

from __future__ import annotations

import asyncio
import logging
import sys

from memcached_operator.controller import setup
from pinnace.client import load_client_config
from pinnace.runtime import Manager, ManagerOptions


async def run() -> int:
    """Serve until a signal."""
    rest = load_client_config().rest_client()
    manager = Manager(rest, ManagerOptions(leader_election=True, leader_election_id="memcached-operator"))
    await setup(manager)
    try:
        return await manager.run_until_signal()
    finally:
        await rest.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(asyncio.run(run()))
