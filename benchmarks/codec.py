"""``python -m benchmarks.codec``: what the payload codec costs. Create thread + ``runs.wait``
of the 10-node chain, one run at a time, on ``graphyard dev`` without and with
``GRAPHYARD_CODEC_KEYS`` (AES-256-GCM on every Temporal payload), in alternating rounds so
that other load on the machine falls on both alike. Prints p50/p90 per setting."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import scenarios, servers
from graphyard.codec import new_key_line


@contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def _round(url: str, n: int) -> list[float]:
    client = scenarios.sdk_client(url)
    try:
        await scenarios.warm_up(client)
        return await scenarios.wait_latency(client, "chain", n)
    finally:
        await client.aclose()


def _measure(codec: bool, n: int) -> list[float]:
    extra = {"GRAPHYARD_CODEC_KEYS": new_key_line("bench")} if codec else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        _environ(extra),
        servers.graphyard(Path(tmp), "local") as server,
    ):
        return asyncio.run(_round(server.url, n))


def _quantile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.codec", description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="runs per round and setting")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"plain": [], "codec": []}
    for _ in range(args.rounds):
        for name in ("plain", "codec"):
            samples[name] += _measure(name == "codec", args.n)
    print("| chain, create + wait | p50 ms | p90 ms | runs |")
    print("|---|---|---|---|")
    for name, values in samples.items():
        p50, p90 = _quantile(values, 0.5), _quantile(values, 0.9)
        print(f"| {name} | {p50:.1f} | {p90:.1f} | {len(values)} |")


if __name__ == "__main__":
    main()
