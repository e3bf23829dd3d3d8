"""Shared fixtures: every test gets its own XDG dirs, so nothing touches the real user's Airlock."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("xdg")
    for var in ("CONFIG", "STATE", "DATA", "CACHE"):
        d = home / var.lower()
        d.mkdir()
        monkeypatch.setenv(f"XDG_{var}_HOME", str(d))
    run = home / "run"
    run.mkdir(mode=0o700)
    # Keep a desktop-env runtime dir if the test needs the real desktop; else a private one.
    if not os.environ.get("AIRLOCK_KEEP_RUNTIME_DIR"):
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.delenv("AIRLOCK_AUTO_APPROVE", raising=False)
    return home


def shared_file(*parts: str) -> Path:
    """A file under ../shared, or skip the test clearly when the shared material is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared material not found: {p} (run from a checkout with ../shared beside it)")
    return p


def best_cpu_time(fn: Callable[[], object], reps: int = 3) -> float:
    """Best-of-``reps`` CPU time of ``fn()``: for linearity checks, which compare two sizes and must
    not fail because another process shares the machine."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best

