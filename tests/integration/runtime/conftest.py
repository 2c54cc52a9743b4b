"""Runtime fixtures over the in-process API server: REST mapper, started cache, runtime client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.runtime.cache.cache import Cache
from pinnace.runtime.client import Client


@pytest.fixture
async def mapper(client: RestClient) -> RESTMapper:
    """A REST mapper that learned the server's kinds."""
    m = RESTMapper(client)
    await m.refresh()
    return m


@pytest.fixture
async def cache(client: RestClient, mapper: RESTMapper) -> AsyncIterator[Cache]:
    """A started informer cache."""
    c = Cache(client, mapper)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture
def rt_client(client: RestClient, mapper: RESTMapper, cache: Cache) -> Client:
    """The runtime client: cached reads, direct writes."""
    return Client(client, mapper, cache)
