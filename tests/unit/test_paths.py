"""Protected paths: defaults, resolution (symlinks, .., case, ~), bad input, finding paths in tool input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import airlock
from airlock import paths


@pytest.mark.parametrize("path", [
    ".env", ".env.local", ".env.production", "app/.envrc", "repo/.git/config", "repo/.git",
    "web/node_modules/left-pad/index.js", "certs/server.pem", "tls/server.key", "id_rsa", "id_ed25519.pub",
    "~/.ssh/config", "~/.aws/credentials", "~/.netrc", "backup/wallet.json",
])
def test_default_protected(path: str, tmp_path: Path) -> None:
    assert airlock.is_protected(path, cwd=str(tmp_path)), path
    assert airlock.protection_reason(path, cwd=str(tmp_path))


@pytest.mark.parametrize("path", [
    "notes.txt", "src/main.py", "environment.md", "docs/git-guide.md", "keys.txt", "README.env.md",
    "/tmp/output.json", "node_modules.txt",
])
def test_ordinary_files_are_writable(path: str, tmp_path: Path) -> None:
    assert airlock.protection_reason(path, cwd=str(tmp_path)) is None, path


def test_dotdot_and_case_are_resolved(tmp_path: Path) -> None:
    assert airlock.is_protected("src/../.ENV", cwd=str(tmp_path))
    assert airlock.is_protected(str(tmp_path / "a" / ".." / ".Git" / "HEAD"))


def test_symlink_to_a_protected_file(tmp_path: Path) -> None:
    secret = tmp_path / ".env"
    secret.write_text("TOKEN=1")
    link = tmp_path / "notes.txt"
    link.symlink_to(secret)
    reason = airlock.protection_reason(str(link))
    assert reason and "symlink" in reason
    # a symlinked directory leading into .git
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "innocent").symlink_to(tmp_path / "repo" / ".git")
    assert airlock.is_protected(str(tmp_path / "innocent" / "config"))


def test_airlock_own_dirs_are_protected() -> None:
    from airlock import _dirs

    assert airlock.is_protected(str(_dirs.config_dir() / "policy.toml"))
    assert airlock.is_protected(str(_dirs.state_dir() / "audit.jsonl"))
    assert airlock.is_protected(paths.__file__)


@pytest.mark.parametrize("bad", [None, 42, b"\xff/.env", "a\x00b", "x" * 5000, ["a"]])
def test_bad_input_fails_secure(bad: object) -> None:
    reason = airlock.protection_reason(bad)
    if isinstance(bad, bytes):
        assert reason  # decoded, still .env-like
    else:
        assert reason and "refused" in reason


def test_extra_patterns(tmp_path: Path) -> None:
    assert airlock.protection_reason("data/app.sqlite", cwd=str(tmp_path)) is None
    assert airlock.is_protected("data/app.sqlite", cwd=str(tmp_path), extra_patterns=["*.sqlite"])
    assert airlock.is_protected(str(tmp_path / "vault" / "x"), extra_patterns=[str(tmp_path / "vault")])


def test_path_arguments_finds_nested_and_diff_targets() -> None:
    found = dict(paths.path_arguments({
        "path": "a.txt", "content": ".env",  # content is not a path
        "options": {"output_path": "b.txt"},
        "files": ["c.txt", "d.txt"],
        "diff": "--- a/src/x.py\n+++ b/.env\n@@ -1 +1 @@\n-a\n+b\n",
    }))
    values = set(map(str, found.values())) | {str(v) for _, v in paths.path_arguments({"files": ["c.txt", "d.txt"]})}
    assert {"a.txt", "b.txt", "c.txt", "d.txt", ".env"} <= values
    assert ("content", ".env") not in list(paths.path_arguments({"content": ".env"}))


def test_path_arguments_bounded_on_deep_input() -> None:
    deep: dict = {}
    cur = deep
    for _ in range(100):
        cur["x"] = {}
        cur = cur["x"]
    out = list(paths.path_arguments(deep))
    assert out and out[-1][1] is paths.UNJUDGEABLE
    assert "refused" in (airlock.protection_reason(out[-1][1]) or "")


def test_write_tool_detection_by_name() -> None:
    assert "write_file" in paths.WRITE_TOOLS
    assert "saveReport" in paths.WRITE_TOOLS and "mcp_fs_delete_entry" in paths.WRITE_TOOLS
    assert "internet_search" not in paths.WRITE_TOOLS
    assert "read_file" in paths.SECRET_READ_TOOLS


def test_linear_on_long_paths() -> None:
    def cost(n: int) -> float:
        p = "/".join(["a" * 7] * n)[:4000]
        t = time.perf_counter()
        for _ in range(50):
            paths.protection_reason(p, extra_patterns=["*a*a*a*a*a*b"])
        return time.perf_counter() - t

    small, big = cost(50), cost(500)
    assert big < small * 40 + 0.05  # generous: no explosion on crafted globs
