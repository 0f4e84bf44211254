"""`settle_malloc`: glibc's thresholds fixed for a long-running process, the operator's
own `MALLOC_*` left alone. Each case runs in a fresh interpreter: the settings last as
long as the process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from minifb.kit import malloc

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(3) is glibc's")

# Settles the allocator, then reports what it applied and what a child process it
# starts afresh finds in its environment.
_SHOW_ENV = (
    "import json, os; "
    "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('MALLOC_')}))"
)
_PROBE = f"""
import json, subprocess, sys
from minifb.kit.malloc import settle_malloc
applied = settle_malloc()
child = subprocess.run([sys.executable, "-c", {_SHOW_ENV!r}], capture_output=True, check=True)
print(json.dumps({{"applied": applied, "child": json.loads(child.stdout)}}))
"""


def _probe(**env: str) -> dict[str, dict[str, object]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(  # noqa: S603 - our own fixed command line
        [sys.executable, "-c", _PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, dict[str, object]] = json.loads(done.stdout)
    return result


@glibc_only
def test_each_value_is_applied_and_handed_to_the_processes_it_starts() -> None:
    found = _probe()
    expected = {variable: value for _, variable, value in malloc.TUNING}
    assert found["applied"] == expected
    assert found["child"] == {variable: str(value) for variable, value in expected.items()}


@glibc_only
def test_a_value_the_operator_set_wins() -> None:
    found = _probe(MALLOC_ARENA_MAX="4")
    assert "MALLOC_ARENA_MAX" not in found["applied"]
    assert set(found["applied"]) == {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}
    assert found["child"]["MALLOC_ARENA_MAX"] == "4"


def test_nothing_is_done_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    before = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    assert malloc.settle_malloc() == {}
    assert {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")} == before
