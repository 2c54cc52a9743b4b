"""Benchmark: how fast the ``pinnace_env`` test environment starts and stops.

The controller-SDK issue asks for an in-process API server that starts "in
well under a second". Prints the median and max of N start+first-request
times, and the ratio to the 1 s budget.

Run: ``python benchmarks/testenv.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from pinnace.cluster.testenv import start_env

BUDGET = 1.0


async def one() -> tuple[float, float]:
    started = time.perf_counter()
    async with start_env() as env:
        await env.client.get("v1/Namespace", "default")
        ready = time.perf_counter() - started
        stopping = time.perf_counter()
    return ready, time.perf_counter() - stopping


async def main(runs: int) -> None:
    await one()  # warm imports
    starts, stops = [], []
    for _ in range(runs):
        start, stop = await one()
        starts.append(start)
        stops.append(stop)
    median = statistics.median(starts)
    print(f"pinnace_env start to first answer: median {median * 1000:.0f} ms, max {max(starts) * 1000:.0f} ms")
    print(f"teardown: median {statistics.median(stops) * 1000:.0f} ms")
    verdict = "PASS" if max(starts) < BUDGET else "FAIL"
    print(f"ratio to the {BUDGET:.0f} s budget: {median / BUDGET:.2f}x  ->  {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
