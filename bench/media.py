"""Upload throughput of one worker, and other requests' latency while uploads run.

Starts one worker of the app (`minifb serve`: granian) on a fresh SQLite database and local media
storage (a temporary directory), signs up people (30 uploads each per 30 minutes
is the limit), then for `--seconds`:

- `--uploaders` clients upload a ~2 MB JPEG photo (3000x2000 of noise and
  gradients, made here with Pillow) back to back;
- one client reads `GET /api/v1/users/me` every 20 ms and records its latency.

It prints uploads per second and the p50/p99 of the other requests, with a
baseline of those requests measured first with no upload running.

    python bench/media.py --seconds 30 --uploaders 4 --image-threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageFilter

HOST, PORT = "127.0.0.1", 8130
BASE = f"http://{HOST}:{PORT}"


def photo(target: int = 2_000_000) -> bytes:
    """A JPEG photo-like image of about `target` bytes."""
    rng = random.Random(12)
    noise = Image.frombytes("RGB", (3000, 2000), rng.randbytes(3000 * 2000 * 3))
    smooth = noise.filter(ImageFilter.GaussianBlur(1.2))
    for quality in (95, 92, 90, 85, 80, 70, 60):
        out = io.BytesIO()
        smooth.save(out, "JPEG", quality=quality)
        if out.tell() <= target * 1.05:
            break
    return out.getvalue()


async def sign_up(client: httpx.AsyncClient, n: int) -> list[dict[str, str]]:
    headers = []
    for i in range(n):
        body = {
            "username": f"bench_media_{i}",
            "email": f"bench_media_{i}@example.com",
            "password": "correct horse battery staple",
            "display_name": f"Bench {i}",
        }
        answer = await client.post(f"{BASE}/api/v1/auth/register", json=body)
        answer.raise_for_status()
        headers.append({"Authorization": f"Bearer {answer.json()['access_token']}"})
    return headers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def probe(client: httpx.AsyncClient, headers: dict[str, str], until: float) -> list[float]:
    latencies = []
    while time.monotonic() < until:
        start = time.perf_counter()
        answer = await client.get(f"{BASE}/api/v1/users/me", headers=headers)
        latencies.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
        await asyncio.sleep(0.02)
    return latencies


async def uploader(
    client: httpx.AsyncClient, people: list[dict[str, str]], data: bytes, until: float
) -> int:
    done = 0
    for headers in people:
        for _ in range(30):
            if time.monotonic() >= until:
                return done
            answer = await client.post(
                f"{BASE}/api/v1/media",
                files={"file": ("photo.jpg", data, "image/jpeg")},
                headers=headers,
            )
            answer.raise_for_status()
            done += 1
    return done


async def run(seconds: float, uploaders: int) -> None:
    data = photo()
    print(f"photo: {len(data)} bytes, 3000x2000 JPEG")
    async with httpx.AsyncClient(timeout=60) as client:
        people = await sign_up(client, 1 + uploaders * 10)
        prober, rest = people[0], people[1:]
        baseline = await probe(client, prober, time.monotonic() + 5)
        until = time.monotonic() + seconds
        start = time.monotonic()
        shares = [rest[i::uploaders] for i in range(uploaders)]
        results = await asyncio.gather(
            probe(client, prober, until),
            *(uploader(client, share, data, until) for share in shares),
        )
        elapsed = time.monotonic() - start
    latencies, uploads = results[0], sum(results[1:])
    print(
        f"uploads: {uploads} in {elapsed:.1f} s = {uploads / elapsed:.2f}/s ({uploaders} clients)"
    )
    for name, values in (("idle", baseline), ("during uploads", latencies)):
        print(
            f"GET /users/me {name}: n={len(values)} p50={statistics.median(values):.1f} ms "
            f"p99={percentile(values, 99):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--image-threads", type=int, default=1, help="MINIFB_MEDIA_WORKERS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "MINIFB_VAR_DIR": tmp,
            "MINIFB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "MINIFB_AUTH_THROTTLE": "off",
            "MINIFB_RATE_LIMIT": "off",
            "MINIFB_LOG_LEVEL": "WARNING",
            "MINIFB_MEDIA_WORKERS": str(args.image_threads),
        }
        minifb = str(Path(sys.executable).with_name("minifb"))
        subprocess.run([minifb, "db", "upgrade"], env=env, check=True)  # noqa: S603
        server = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [minifb, "serve", "--host", HOST, "--port", str(PORT)],
            env=env,
            start_new_session=True,
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{BASE}/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            asyncio.run(run(args.seconds, args.uploaders))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
