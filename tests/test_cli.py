"""The `minifb` command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

import minifb
from minifb.cli import app
from minifb.kit import ids
from minifb.kit.ids import id_time
from minifb.main import DRAIN_WITHIN, STOP_WITHIN
from minifb.models import Comment, Follow, Friendship, Post, Reaction, User
from tests.fixtures.redis_server import RedisServer, free_port, redis_server

__all__ = ["redis_server"]  # the fixture, imported for the tests below

runner = CliRunner()


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "cli.db"
    monkeypatch.setenv("MINIFB_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def _count(path: Path, query: object) -> int:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return int(conn.scalar(query) or 0)  # type: ignore[call-overload]
    finally:
        engine.dispose()


class TestDb:
    def test_upgrade_creates_the_schema_in_a_new_folder(self, fresh_db: Path) -> None:
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert _count(fresh_db, select(func.count()).select_from(User)) == 0

    def test_downgrade_removes_it(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["db", "downgrade", "base"])
        assert result.exit_code == 0, result.output
        with pytest.raises(Exception, match="no such table"):
            _count(fresh_db, select(func.count()).select_from(User))


class TestVersion:
    def test_prints_the_version(self) -> None:
        result = runner.invoke(app, ["--version"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"minifb {minifb.__version__}"


class TestDbCurrent:
    def test_names_the_head_after_an_upgrade(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["db", "current"])
        assert result.exit_code == 0, result.output
        assert result.output.strip().endswith("(head)")
        assert result.output.startswith("database at 0")

    def test_says_a_new_database_is_not_migrated_without_creating_it(self, fresh_db: Path) -> None:
        result = runner.invoke(app, ["db", "current"])
        assert result.exit_code == 0, result.output
        assert "not migrated" in result.output
        assert "minifb db upgrade" in result.output
        assert not fresh_db.exists()

    def test_names_an_older_revision(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade", "0001"]).exit_code == 0
        result = runner.invoke(app, ["db", "current"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("database at 0001, head is ")

    def test_an_unreachable_database_is_one_line_and_a_failure(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Nothing listens on port 1: the connection is refused at once.
        monkeypatch.setenv(
            "MINIFB_DATABASE_URL", "postgresql+asyncpg://someone:hunter2@127.0.0.1:1/minifb"
        )
        result = runner.invoke(app, ["db", "current"])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "cannot reach the database")
        assert "hunter2" not in result.output

    def test_a_driver_that_is_not_installed_is_one_line_and_a_failure(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_DATABASE_URL", "postgresql+pg8000://someone@127.0.0.1:1/minifb")
        result = runner.invoke(app, ["db", "current"])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "cannot use the database URL")


class TestMistakes:
    def test_seed_on_an_unmigrated_database_says_to_upgrade(self, fresh_db: Path) -> None:
        result = runner.invoke(app, ["seed", "--users", "5"])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "run `minifb db upgrade`")

    def test_seed_on_an_older_schema_says_to_upgrade(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade", "0001"]).exit_code == 0
        result = runner.invoke(app, ["seed", "--users", "5"])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "run `minifb db upgrade`")

    def test_an_invalid_setting_is_named_with_the_reason(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_FEED_SIZE", "20000")
        result = runner.invoke(app, ["seed"])
        assert result.exit_code == 2
        _assert_one_clear_line(
            result.output, "MINIFB_FEED_SIZE: Input should be less than or equal to 10000"
        )

    def test_a_setting_read_under_another_name_is_named_by_it(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RDS_PORT", "five")
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 2
        _assert_one_clear_line(result.output, "error: RDS_PORT: Input should be a valid integer")

    def test_a_worker_id_lease_the_cache_cannot_hold_is_named(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_WORKER_ID_LEASE", "redis")
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 2
        _assert_one_clear_line(
            result.output, "MINIFB_WORKER_ID_LEASE=redis leases worker ids in the cache's Redis"
        )

    def test_a_server_consumer_of_no_known_name_is_named(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_EVENTS_URL", "amqp://guest:guest@127.0.0.1:5672/")
        monkeypatch.setenv("MINIFB_SERVER_CONSUMERS", "stream,feeds")
        result = runner.invoke(app, ["serve", "--port", "1"])
        assert result.exit_code == 2
        assert "MINIFB_SERVER_CONSUMERS" in result.output
        assert "no worker named feeds" in result.output

    def test_a_worker_needs_a_broker(self, fresh_db: Path) -> None:
        result = runner.invoke(app, ["worker", "feed"])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "error: a worker takes events from a broker")

    def test_a_worker_of_no_known_name_is_named(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_EVENTS_URL", "amqp://guest:guest@127.0.0.1:5672/")
        result = runner.invoke(app, ["worker", "feeds"])
        assert result.exit_code == 2
        assert "no worker named feeds" in result.output


def _assert_one_clear_line(output: str, expected: str) -> None:
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert expected in lines[0]


class TestWorker:
    def test_a_worker_settles_the_allocator_before_it_runs(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import minifb.cli
        import minifb.worker

        steps: list[object] = []

        async def run(_settings: object, names: list[str]) -> None:
            steps.append(names)

        monkeypatch.setenv("MINIFB_EVENTS_URL", "amqp://guest:guest@127.0.0.1:5672/")
        monkeypatch.setattr(minifb.cli, "_migrated_database", lambda _settings: None)
        monkeypatch.setattr(minifb.cli, "settle_malloc", lambda: steps.append("malloc"))
        monkeypatch.setattr(minifb.worker, "run", run)
        result = runner.invoke(app, ["worker", "feed"])
        assert result.exit_code == 0, result.output
        assert steps == ["malloc", ["feed"]]


class TestSeed:
    def test_adds_people_and_an_uneven_friend_graph(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["seed", "--users", "300"])
        assert result.exit_code == 0, result.output
        assert "added 300 people" in result.output
        assert _count(fresh_db, select(func.count()).select_from(User)) == 300
        friendships = _count(fresh_db, select(func.count()).select_from(Friendship))
        assert friendships > 300
        # Friendship implies following both ways.
        assert _count(fresh_db, select(func.count()).select_from(Follow)) == friendships
        degrees = select(func.count()).select_from(Friendship).group_by(Friendship.user_id)
        top = _count(fresh_db, select(func.max(degrees.subquery().c[0])))
        assert top > 4 * friendships / 300  # a few people have far more friends than most

    def test_runs_again_without_clashing(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert runner.invoke(app, ["seed", "--users", "20"]).exit_code == 0
        assert runner.invoke(app, ["seed", "--users", "20"]).exit_code == 0
        assert _count(fresh_db, select(func.count()).select_from(User)) == 40

    def test_adds_posts_comments_and_reactions_with_matching_counters(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["seed", "--users", "200", "--posts-per-user", "4"])
        assert result.exit_code == 0, result.output
        assert "800 posts" in result.output
        assert _count(fresh_db, select(func.count()).select_from(Post)) == 800
        assert _count(fresh_db, select(func.count()).select_from(Comment)) > 0
        assert _count(fresh_db, select(func.count()).select_from(Reaction)) > 800
        comments = select(func.count()).where(Comment.post_id == Post.id).scalar_subquery()
        wrong = select(func.count()).select_from(Post).where(Post.comment_count != comments)
        assert _count(fresh_db, wrong) == 0
        reply = Comment.__table__.alias("reply")
        replies = select(func.count()).where(reply.c.parent_id == Comment.id).scalar_subquery()
        wrong = select(func.count()).select_from(Comment).where(Comment.reply_count != replies)
        assert _count(fresh_db, wrong) == 0
        for kind, model in (("post", Post), ("comment", Comment)):
            for type_ in ("like", "love", "haha", "wow", "sad", "angry"):
                counted = (
                    select(func.count())
                    .where(
                        Reaction.target_kind == kind,
                        Reaction.target_id == model.id,
                        Reaction.type == type_,
                    )
                    .scalar_subquery()
                )
                column = getattr(model, f"{type_}_count")
                wrong = select(func.count()).select_from(model).where(column != counted)
                assert _count(fresh_db, wrong) == 0, (kind, type_)

    def test_ids_carry_each_rows_creation_time(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert runner.invoke(app, ["seed", "--users", "50"]).exit_code == 0
        engine = create_engine(f"sqlite:///{fresh_db}")
        try:
            with engine.connect() as conn:
                for model in (User, Post, Comment, Reaction, Follow):
                    rows = conn.execute(select(model.id, model.created_at)).all()
                    assert rows, model
                    for id_, created_at in rows:
                        assert id_time(id_).replace(tzinfo=None) == created_at.replace(tzinfo=None)
                # Comments come after their post.
                late = conn.scalar(
                    select(func.count())
                    .select_from(Comment)
                    .join(Post, Post.id == Comment.post_id)
                    .where(Comment.created_at < Post.created_at)
                )
                assert late == 0
        finally:
            engine.dispose()

    def test_mints_no_live_ids_so_needs_no_worker_id(
        self, fresh_db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Seeded ids are past moments' (seed.bulk.PastIds); a seed that minted live ids
        # would have to lease a worker id first, and fails here until it does.
        monkeypatch.setattr(ids, "generator", ids.IdGenerator())
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["seed", "--users", "20", "--posts-per-user", "2"])
        assert result.exit_code == 0, result.output

    def test_visibility_is_mostly_public(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert (
            runner.invoke(app, ["seed", "--users", "100", "--posts-per-user", "10"]).exit_code == 0
        )
        public = _count(
            fresh_db, select(func.count()).select_from(Post).where(Post.visibility == "public")
        )
        assert 600 < public < 950

    def test_celebrities_are_followed_by_many_without_being_friends(self, fresh_db: Path) -> None:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["seed", "--users", "300", "--celebrities", "2"])
        assert result.exit_code == 0, result.output
        followers = (
            select(func.count()).select_from(Follow).group_by(Follow.followee_id).subquery().c[0]
        )
        assert _count(fresh_db, select(func.max(followers))) > 50
        friendships = _count(fresh_db, select(func.count()).select_from(Friendship))
        assert _count(fresh_db, select(func.count()).select_from(Follow)) > friendships + 100

    def test_the_same_rng_seed_gives_the_same_network(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        counts = []
        for name in ("a", "b"):
            path = tmp_path / f"{name}.db"
            monkeypatch.setenv("MINIFB_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
            assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
            result = runner.invoke(app, ["seed", "--users", "60", "--seed", "7"])
            assert result.exit_code == 0, result.output
            counts.append(result.output.split("added", 1)[1].split(";")[0])
        assert counts[0] == counts[1]


class TestOpenapi:
    def test_prints_the_spec(self) -> None:
        result = runner.invoke(app, ["openapi"])
        assert result.exit_code == 0, result.output
        spec = json.loads(result.output)
        assert "/api/v1/auth/register" in spec["paths"]
        assert "/health" in spec["paths"]


class TestServe:
    def test_unknown_service_is_refused_before_starting(self) -> None:
        result = runner.invoke(app, ["serve", "--service", "nonsense"])
        assert result.exit_code == 2
        assert "unknown service" in result.output

    def test_unknown_server_is_refused(self) -> None:
        result = runner.invoke(app, ["serve", "--server", "gunicorn"])
        assert result.exit_code == 2

    def test_granian_is_the_default_and_gets_the_app_factory(
        self, monkeypatch: pytest.MonkeyPatch, fresh_db: Path, redis_server: RedisServer
    ) -> None:
        import granian

        calls: list[dict[str, object]] = []

        class FakeGranian:
            def __init__(self, target: str, **options: object) -> None:
                calls.append({"target": target, **options})

            def serve(self) -> None:
                calls.append({"served": True})

        monkeypatch.setenv("MINIFB_SERVICES", "")  # serve sets it; restored after the test
        # Several workers need a shared cache, which must answer before the server starts.
        monkeypatch.setenv("MINIFB_CACHE_URL", redis_server.url)
        monkeypatch.setattr(granian, "Granian", FakeGranian)
        port = free_port()
        result = runner.invoke(app, ["serve", "--port", str(port), "--workers", "2"])
        assert result.exit_code == 0, result.output
        options, served = calls
        assert options["target"] == "minifb.main:app_from_env"
        assert options["factory"] is True
        assert (options["address"], options["port"], options["workers"]) == ("127.0.0.1", port, 2)
        assert str(options["interface"]) in ("asgi", "Interfaces.ASGI")
        assert options["workers_kill_timeout"] == STOP_WITHIN  # after SIGTERM
        assert served == {"served": True}

    def test_several_workers_on_the_in_process_cache_are_refused_saying_why(
        self, monkeypatch: pytest.MonkeyPatch, fresh_db: Path
    ) -> None:
        import granian

        monkeypatch.setenv("MINIFB_SERVICES", "")
        monkeypatch.setenv("MINIFB_CACHE_URL", "memory://")
        monkeypatch.setattr(granian, "Granian", _never_started)
        result = runner.invoke(app, ["serve", "--workers", "2"])
        assert result.exit_code == 2
        assert "cannot run 2 workers" in result.output
        assert "MINIFB_CACHE_URL=redis://" in result.output

    def test_uvicorn_on_request(self, monkeypatch: pytest.MonkeyPatch, fresh_db: Path) -> None:
        import uvicorn

        configs: list[uvicorn.Config] = []

        class FakeServer:
            def __init__(self, config: uvicorn.Config) -> None:
                configs.append(config)
                self.started = False

            def run(self) -> None:
                self.started = True

        monkeypatch.setenv("MINIFB_SERVICES", "")
        monkeypatch.setattr(uvicorn, "Server", FakeServer)
        args = ["--host", "127.0.0.2", "--port", str(free_port()), "--service", "posts"]
        with restored_signal(signal.SIGTERM):
            result = runner.invoke(app, ["serve", "--server", "uvicorn", *args])
        assert result.exit_code == 0, result.output
        [config] = configs
        assert config.app == "minifb.main:app_from_env"
        assert config.factory is True
        assert config.host == "127.0.0.2"
        # Requests in flight at SIGTERM are cut off after the stream's drain and this.
        assert config.timeout_graceful_shutdown == STOP_WITHIN - DRAIN_WITHIN - 2


@contextmanager
def restored_signal(signum: signal.Signals) -> Iterator[None]:
    """The test process's handler of `signum` as it was, whatever `serve` installed."""
    handler = signal.getsignal(signum)
    try:
        yield
    finally:
        signal.signal(signum, handler)


def _never_started(*_: object, **__: object) -> None:
    raise AssertionError("the server must not start")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another server is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Either server, if started, fails the test."""
    import granian
    import uvicorn

    monkeypatch.setenv("MINIFB_SERVICES", "")  # serve sets it; restored after the test
    monkeypatch.setattr(granian, "Granian", _never_started)
    monkeypatch.setattr(uvicorn, "Server", _never_started)


@pytest.mark.usefixtures("fresh_db", "no_server")
class TestServeRefusesToStart:
    """What would stop a server from serving ends `serve` before any server process starts."""

    @pytest.mark.parametrize("server", ["granian", "uvicorn"])
    def test_a_port_in_use_is_one_line(self, server: str, taken_port: int) -> None:
        result = runner.invoke(app, ["serve", "--server", server, "--port", str(taken_port)])
        assert result.exit_code == 1
        _assert_one_clear_line(
            result.output,
            f"error: port {taken_port} on 127.0.0.1 is in use (another server?); "
            "choose another with --port",
        )

    def test_an_address_that_is_not_here_is_one_line(self) -> None:
        result = runner.invoke(app, ["serve", "--host", "192.0.2.1", "--port", str(free_port())])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "cannot listen on 192.0.2.1 port")

    def test_an_unreachable_redis_is_named_with_its_password_hidden(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Nothing listens on port 1: the connection is refused at once.
        monkeypatch.setenv("MINIFB_CACHE_URL", "redis://:hunter2@127.0.0.1:1/0")
        result = runner.invoke(app, ["serve", "--port", str(free_port())])
        assert result.exit_code == 1
        _assert_one_clear_line(
            result.output, "cannot reach the Redis cache redis://:***@127.0.0.1:1/0"
        )
        assert "hunter2" not in result.output

    def test_an_unreachable_redis_cluster_is_one_line(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MINIFB_CACHE_URL", "redis+cluster://127.0.0.1:1")
        result = runner.invoke(app, ["serve", "--port", str(free_port())])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "cannot reach the Redis cache redis+cluster://")

    def test_an_unreachable_database_is_one_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "MINIFB_DATABASE_URL", "postgresql+asyncpg://someone:hunter2@127.0.0.1:1/minifb"
        )
        result = runner.invoke(app, ["serve", "--port", str(free_port())])
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "cannot reach the database")
        assert "hunter2" not in result.output

    def test_the_real_command_prints_one_line_and_exits_non_zero(
        self, taken_port: int, fresh_db: Path
    ) -> None:
        # The installed entry point in a process of its own: no traceback on stderr.
        command = [sys.executable, "-c", "from minifb.cli import main; main()", "serve"]
        done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [*command, "--port", str(taken_port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "MINIFB_DATABASE_URL": f"sqlite+aiosqlite:///{fresh_db}"},
            check=False,
        )
        assert done.returncode == 1
        assert done.stdout == ""
        _assert_one_clear_line(done.stderr, f"port {taken_port} on 127.0.0.1 is in use")


class TestDbCommandsOnAnUnreachableDatabase:
    @pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "downgrade", "base"]])
    def test_one_line_and_a_failure(
        self, command: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(
            "MINIFB_DATABASE_URL", "postgresql+asyncpg://someone:hunter2@127.0.0.1:1/minifb"
        )
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        _assert_one_clear_line(result.output, "cannot reach the database")
        assert "hunter2" not in result.output
