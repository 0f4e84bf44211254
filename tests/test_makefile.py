"""The Makefile on a fresh machine: hints for a Python it cannot use, the lock, the full pass.

Each test runs `make` on a copy of the Makefile in a folder of its own; the
Pythons it is handed are small scripts that answer as an old interpreter, or
as Debian's without its venv module, would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"

# What an interpreter older than 3.11 answers to the Makefile's two questions.
OLD_PYTHON = f"""#!{sys.executable}
import sys

sys.version_info = (3, 9, 18, "final", 0)
if sys.argv[1:] == ["--version"]:
    print("Python 3.9.18")
elif sys.argv[1] == "-c":
    exec(sys.argv[2])
else:
    raise SystemExit(f"not asked of an old Python: {{sys.argv[1:]}}")
"""

# Debian's and Ubuntu's Python without python3.X-venv: the folder is made, then venv gives up.
NO_VENV_PYTHON = f"""#!{sys.executable}
import os
import sys
from pathlib import Path

if sys.argv[1:3] == ["-m", "venv"]:
    target = Path(sys.argv[3])
    (target / "bin").mkdir(parents=True)
    (target / "pyvenv.cfg").write_text("home = /usr/bin\\n")
    print(
        "The virtual environment was not created successfully because ensurepip is not\\n"
        "available.  On Debian/Ubuntu systems, you need to install the python3-venv\\n"
        "package using the following command.\\n\\n"
        "    apt install python3.{sys.version_info[1]}-venv\\n"
    )
    sys.exit(1)
os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])
"""


def _make(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Nothing of an outer `make` (its flags, a full pass it was asked for) leaks in.
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MINIFB_FULL_PASS", "PYTHON")
    }
    return subprocess.run(  # noqa: S603 - our own arguments
        ["make", "--no-print-directory", *args],  # noqa: S607 - make is what is tested
        cwd=folder,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the Makefile and the files its install step depends on."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "dev.lock").write_text("")
    (tmp_path / "requirements" / "schemathesis.lock").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def _script(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _one_line(stderr: str) -> str:
    """The hint: the one line before make's own "Error 1" line."""
    lines = [line for line in stderr.splitlines() if not line.startswith("make: ***")]
    assert len(lines) == 1, stderr
    return lines[0]


class TestAPythonThatCannotServe:
    def test_an_old_python_gets_a_hint_naming_what_to_run(self, project: Path) -> None:
        python = _script(project, "python3.9", OLD_PYTHON)
        done = _make(project, "run", f"PYTHON={python}")
        assert done.returncode != 0
        assert _one_line(done.stderr) == (
            f"error: Python 3.11+ is needed, {python} is Python 3.9.18; "
            "try PYTHON=python3.12 make run"
        )
        assert not (project / ".venv").exists()

    def test_a_missing_python_gets_the_same_hint(self, project: Path) -> None:
        done = _make(project, "test", "PYTHON=python3-that-is-not-here")
        assert done.returncode != 0
        assert _one_line(done.stderr) == (
            "error: Python 3.11+ is needed, python3-that-is-not-here is not found; "
            "try PYTHON=python3.12 make test"
        )

    def test_a_python_without_venv_names_the_package_and_leaves_no_half_venv(
        self, project: Path
    ) -> None:
        python = _script(project, "python3", NO_VENV_PYTHON)
        done = _make(project, "run", f"PYTHON={python}")
        assert done.returncode != 0
        assert _one_line(done.stderr) == (
            f"error: {python} has no venv module; install it "
            f"(apt install python3.{sys.version_info[1]}-venv) "
            "or try PYTHON=python3.12 make run"
        )
        # A half-made .venv would pass for a made one the next time.
        assert not (project / ".venv").exists()

    def test_a_usable_python_makes_the_venv(self, project: Path) -> None:
        done = _make(project, ".venv/pyvenv.cfg", f"PYTHON={sys.executable}")
        assert done.returncode == 0, done.stderr
        assert (project / ".venv" / "bin" / "pip").exists()


def _installed(project: Path) -> None:
    """Pretend `make install` ran: a venv, then the stamp, newer than the lock."""
    (project / ".venv").mkdir()
    (project / ".venv" / "pyvenv.cfg").write_text("")
    stamp = project / ".venv" / ".installed-stamp"
    stamp.write_text("")
    past = stamp.stat().st_mtime - 60
    for path in (project / "requirements" / "dev.lock", project / "pyproject.toml"):
        os.utime(path, (past, past))


class TestInstallFromTheLock:
    def test_installs_only_what_the_lock_pins_with_hashes(self, project: Path) -> None:
        done = _make(project, "-n", "install", f"PYTHON={sys.executable}")
        assert done.returncode == 0, done.stderr
        assert (
            ".venv/bin/python -m pip install --quiet --require-hashes -r requirements/dev.lock"
            in (done.stdout)
        )
        assert ".venv/bin/python -m pip install --quiet --no-deps -e ." in done.stdout

    def test_an_installed_venv_is_left_alone(self, project: Path) -> None:
        _installed(project)
        done = _make(project, "-n", "install")
        assert done.returncode == 0, done.stderr
        assert "pip install" not in done.stdout

    def test_a_changed_lock_installs_again(self, project: Path) -> None:
        _installed(project)
        (project / "requirements" / "dev.lock").write_text("# changed\n")
        done = _make(project, "-n", "install")
        assert "--require-hashes -r requirements/dev.lock" in done.stdout


class TestTheFullPassIsAskedForByName:
    def test_the_generic_ci_variable_asks_for_no_services(self, project: Path) -> None:
        _installed(project)
        done = _make(project, "-n", "integration", CI="true")
        assert done.returncode == 0, done.stderr
        assert "pytest" not in done.stdout
        assert "MINIFB_FULL_PASS=1" in done.stdout

    @pytest.mark.parametrize("how", ["environment", "command line"])
    def test_minifb_full_pass_runs_the_suite_on_the_services(self, project: Path, how: str) -> None:
        _installed(project)
        if how == "environment":
            done = _make(project, "-n", "integration", MINIFB_FULL_PASS="1")
        else:
            done = _make(project, "-n", "integration", "MINIFB_FULL_PASS=1")
        assert done.returncode == 0, done.stderr
        commands = done.stdout.replace("\\\n", " ").splitlines()  # continued lines joined
        runs = [command for command in commands if "pytest" in command]
        assert len(runs) == 3, done.stdout
        assert "MINIFB_TEST_DATABASE_URL=postgresql+asyncpg://" in runs[0]
        assert "MINIFB_TEST_REDIS_URL=redis://" in runs[0]
        assert "MINIFB_TEST_WORKERS" not in runs[0]
        # The API suite once more, the workers apart, on the same services.
        for setting in ("DATABASE_URL=postgresql", "REDIS_URL=redis", "AMQP_URL=amqp"):
            assert f"MINIFB_TEST_{setting}" in runs[1]
        assert "MINIFB_TEST_WORKERS=process" in runs[1]
        assert "MINIFB_TEST_REDIS_CLUSTER=1" in runs[2]
        # And the API against its own document, on a live server.
        assert "tests/contract/run.py" in commands[-1]


def _pins(lock: Path) -> dict[str, str]:
    """name -> version of each requirement line (`name==version ... \\`)."""
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s;]+)", lock.read_text(), re.MULTILINE):
        pins[_normal(match[1])] = match[2]
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, dict[str, str]]:
    """The pyproject's pins: {"runtime": {name: version}, "dev": {...}}."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def pins(requirements: list[str]) -> dict[str, str]:
        found = {}
        for requirement in requirements:
            name, _, version = requirement.partition("==")
            found[_normal(name.split("[")[0])] = version.strip()
        return found

    return {
        "runtime": pins(project["dependencies"]),
        "dev": pins(project["optional-dependencies"]["dev"]),
    }


class TestTheLockFiles:
    """`make lock` was run after the last change of pyproject.toml's pins."""

    def test_every_declared_pin_is_locked_at_its_version(self) -> None:
        declared = _declared()
        dev, runtime = _pins(LOCK), _pins(RUNTIME_LOCK)
        for name, version in {**declared["runtime"], **declared["dev"]}.items():
            assert dev.get(name) == version, f"{name}=={version} in pyproject.toml; run make lock"
        for name, version in declared["runtime"].items():
            assert runtime.get(name) == version, f"{name}=={version}; run make lock"
        assert not set(declared["dev"]) & set(runtime), "the runtime lock holds dev tools"

    def test_the_two_locks_agree(self) -> None:
        dev, runtime = _pins(LOCK), _pins(RUNTIME_LOCK)
        assert {name: dev.get(name) for name in runtime} == runtime

    @pytest.mark.parametrize("lock", [LOCK, RUNTIME_LOCK], ids=["dev", "runtime"])
    def test_every_requirement_has_a_hash(self, lock: Path) -> None:
        entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().split("\n", 2)[2])
        assert entries
        for entry in entries:
            assert "==" in entry.splitlines()[0], entry
            assert "--hash=sha256:" in entry, entry
