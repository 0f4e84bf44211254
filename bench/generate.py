"""Bench data: the demo network at bench size, and access tokens for wrk.

Reads the same `MINIFB_*` settings the server will (database URL, var dir,
issuer, audience), so the tokens verify against the server's signing key
(`<var_dir>/keys/jwt-signing-key.pem` in development). Tokens are minted
directly for real sessions (one `auth_sessions` row each): 2,000 argon2
logins would take minutes and measure nothing we want.

    python bench/generate.py --tokens-out bench/data/embedded/tokens.txt
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from minifb.adapters.secrets import create_secret_store
from minifb.auth.tokens import AccessTokenCodec, load_keyset
from minifb.bootstrap import worker_id_lease
from minifb.cli import phase_progress
from minifb.config import Settings
from minifb.kit import ids
from minifb.kit.db import Database, utcnow
from minifb.migrations import upgrade
from minifb.models import AuthSession, Post, User
from minifb.seed import bulk_insert, seed

USERS = 10_000
POSTS_PER_USER = 50  # 500,000 posts
FRIENDS_PER_PERSON = 12  # ~24 friends on average, a few with hundreds
TOKENS = 2_000
BENCH_USER_AGENT = "minifb-bench"


async def _demo_counts(db: Database) -> tuple[int, int]:
    async with db.transaction() as session:
        users = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.username.like("demo\\_%", escape="\\"))
        )
        posts = await session.scalar(select(func.count()).select_from(Post))
    return int(users or 0), int(posts or 0)


async def ensure_data(
    db: Database, *, users: int, posts_per_user: int, rng_seed: int
) -> tuple[int, int]:
    """Seed the network unless it is there already; returns (people, posts)."""
    have_users, have_posts = await _demo_counts(db)
    if have_users >= users and have_posts >= users * posts_per_user * 0.9:
        print(f"reusing {have_users} people and {have_posts} posts", flush=True)
        return have_users, have_posts
    if have_users:
        sys.exit(
            f"the database holds {have_users} demo people and {have_posts} posts, not the "
            f"{users} / {users * posts_per_user} asked for: drop it first (bench/run.py --fresh)"
        )
    started = time.monotonic()
    with phase_progress() as advance:
        result = await seed(
            db,
            users,
            friends_per_person=FRIENDS_PER_PERSON,
            posts_per_user=posts_per_user,
            rng=random.Random(rng_seed),
            progress=advance,
        )
    print(
        f"seeded in {time.monotonic() - started:.0f} s: {result.users} people, "
        f"{result.friendships} friendships, {result.follows} celebrity follows, "
        f"{result.posts} posts, {result.comments} comments, {result.reactions} reactions",
        flush=True,
    )
    return result.users, result.posts


async def mint_tokens(
    db: Database, settings: Settings, *, count: int, ttl: int, out: Path, rng_seed: int
) -> int:
    """Open `count` sessions for random demo people and write one access token per line."""
    async with db.transaction() as session:
        people = list(
            await session.scalars(
                select(User.id).where(User.username.like("demo\\_%", escape="\\")).order_by(User.id)
            )
        )
        # Sessions of earlier runs are of no use: their tokens have expired.
        await session.execute(delete(AuthSession).where(AuthSession.user_agent == BENCH_USER_AGENT))
    chosen = random.Random(rng_seed).sample(people, min(count, len(people)))
    tokens = await issue_tokens(db, settings, chosen, ttl=ttl)
    await asyncio.to_thread(_write_lines, out, tokens)
    return len(tokens)


async def issue_tokens(
    db: Database, settings: Settings, user_ids: list[int], *, ttl: int
) -> list[str]:
    """Open a session (an `auth_sessions` row) for each person and sign an access token
    for it with the server's key; the tokens in the order of `user_ids`."""
    secrets = create_secret_store(settings.secrets_url)
    dev_keys = settings.var_dir / "keys" if settings.environment != "production" else None
    keyset = await load_keyset(secrets, dev_key_dir=dev_keys)
    codec = AccessTokenCodec(
        keyset, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl_seconds=ttl
    )
    now = utcnow()
    session_ids = [ids.new_id() for _ in user_ids]
    rows = [
        {
            "id": session_id,
            "user_id": user_id,
            "created_at": now,
            "expires_at": now + timedelta(seconds=settings.refresh_token_ttl),
            "revoked_at": None,
            "user_agent": BENCH_USER_AGENT,
            "ip": "127.0.0.1",
        }
        for user_id, session_id in zip(user_ids, session_ids, strict=True)
    ]
    async with db.transaction() as session:
        await bulk_insert(session, AuthSession, rows)
    return [
        codec.issue(user_id=user_id, session_id=session_id)[0]
        for user_id, session_id in zip(user_ids, session_ids, strict=True)
    ]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings()
    if settings.is_sqlite:
        Path(settings.database_url.split(":///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url, ca_cert=settings.database_ca_cert)
    lease = worker_id_lease(settings, db)
    try:
        if await lease.start() is None:
            sys.exit(f"no worker id to mint the new rows' ids: {lease.problem}")
        await ensure_data(
            db, users=args.users, posts_per_user=args.posts_per_user, rng_seed=args.seed
        )
        minted = await mint_tokens(
            db,
            settings,
            count=args.tokens,
            ttl=args.ttl,
            out=args.tokens_out,
            rng_seed=args.seed,
        )
    finally:
        await lease.stop()
        await db.dispose()
    print(f"wrote {minted} access tokens (valid {args.ttl} s) to {args.tokens_out}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--posts-per-user", type=int, default=POSTS_PER_USER)
    parser.add_argument("--tokens", type=int, default=TOKENS, help="people to mint tokens for")
    parser.add_argument(
        "--ttl",
        type=int,
        default=3600,
        help="token lifetime in seconds (the server caps MINIFB_ACCESS_TOKEN_TTL at 3600)",
    )
    parser.add_argument("--tokens-out", type=Path, default=Path("bench/data/tokens.txt"))
    parser.add_argument("--seed", type=int, default=42, help="seed of the random generator")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main_async(parse_args()))
