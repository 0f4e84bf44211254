"""The `minifb` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from minifb.cli import app
from minifb.models import Follow, Friendship, User

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
