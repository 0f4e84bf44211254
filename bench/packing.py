"""Packing Redis commands: redis-py's asyncio connection (Python) against the one the
cache adapter makes (`adapters.cache.redis.packing_in_c`, hiredis).

Two commands the app sends: a fan-out's script call (the feed worker's largest,
200 feeds and 5,000 insertions in one EVALSHA) and a new post's `set_many`. No
server is needed: only the bytes are made, and both ways must make the same.

    python bench/packing.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection

from minifb.adapters.cache.redis import packing_in_c

SHA = "ab" * 20
FAN_OUT: tuple[Any, ...] = (
    "EVALSHA",
    SHA,
    200,
    *(f"feed:{{u{n}}}" for n in range(200)),
    501,
    *(arg for n in range(5000) for arg in ("1.76e18", f"{1_760_000_000_000_000_000 + n}")),
)
NEW_POST: tuple[Any, ...] = (
    "EVALSHA",
    SHA,
    2,
    "post:{p1}",
    "post:{p1}:counts",
    3_600_000,
    b"x" * 300,
    b"y" * 80,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ways: dict[str, AbstractConnection] = {
        "python": Connection(),
        "hiredis": packing_in_c(Connection)(),
    }
    for name, command, number in (("fan-out", FAN_OUT, 50), ("new post", NEW_POST, 20_000)):
        python, in_c = (b"".join(way.pack_command(*command)) for way in ways.values())
        assert python == in_c
        times = {way: median_time(conn, command, number, args.rounds) for way, conn in ways.items()}
        print(
            f"{name}: {len(command):,} arguments, python {times['python'] * 1e6:,.1f} µs,"
            f" hiredis {times['hiredis'] * 1e6:,.1f} µs,"
            f" {times['python'] / times['hiredis']:.1f}x (medians of {args.rounds})"
        )


def median_time(
    conn: AbstractConnection, command: tuple[Any, ...], number: int, rounds: int
) -> float:
    """Seconds to pack `command` once: the median of `rounds` runs of `number` each."""

    def pack() -> None:
        conn.pack_command(*command)

    return statistics.median(timeit.timeit(pack, number=number) / number for _ in range(rounds))


if __name__ == "__main__":
    main()
