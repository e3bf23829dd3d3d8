"""``airlock keys`` end to end in a subprocess (encrypted-file backend, stdin values)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CORE = str(Path(__file__).resolve().parents[2] / "core")
VALUE = "sk-cli-test-Zq8Lw3Rt6Yp1Xc4Vb7Nm2Kj5Hg9"


def run(*args: str, stdin: str = "", password: str = "pw-cli") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=CORE, AIRLOCK_MASTER_PASSWORD=password)
    return subprocess.run([sys.executable, "-m", "airlock", "keys", "--backend", "file", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_lifecycle_never_prints_values_unless_asked() -> None:
    r = run("set", "OPENAI_API_KEY", stdin=VALUE + "\n")
    assert r.returncode == 0, r.stderr
    assert VALUE not in r.stdout + r.stderr
    r = run("list", "--json")
    data = json.loads(r.stdout)
    assert [k["name"] for k in data["keys"]] == ["OPENAI_API_KEY"] and data["backend"].startswith("encrypted-file")
    assert VALUE not in r.stdout
    r = run("get", "OPENAI_API_KEY")
    assert r.returncode == 0 and VALUE not in r.stdout and "--reveal" in r.stdout
    r = run("get", "OPENAI_API_KEY", "--reveal")
    assert r.stdout.strip() == VALUE
    assert run("rotate", "OPENAI_API_KEY", stdin="second-value-xyz\n").returncode == 0
    assert run("get", "OPENAI_API_KEY", "--reveal").stdout.strip() == "second-value-xyz"
    assert run("rollback", "OPENAI_API_KEY").returncode == 0
    assert run("get", "OPENAI_API_KEY", "--reveal").stdout.strip() == VALUE
    r = run("get", "OPENAI_API_KEY", "--reveal", password="wrong")
    assert r.returncode == 4 and "wrong master password" in r.stderr
    assert run("delete", "OPENAI_API_KEY").returncode == 1  # no TTY and no --yes: refuses
    assert run("delete", "OPENAI_API_KEY", "--yes").returncode == 0
    assert run("get", "OPENAI_API_KEY").returncode == 3


def test_cli_value_is_not_accepted_from_argv() -> None:
    r = run("set", "K", VALUE)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr


def test_cli_errors_are_clear() -> None:
    assert run("set", "K", stdin="").returncode == 1
    r = run("set", "bad/name", stdin="x\n", )
    assert r.returncode == 1 and "invalid key name" in r.stderr
    r = run("backend", "--json")
    assert json.loads(r.stdout)["backend"].startswith("encrypted-file")


def test_redact_cli_and_eval() -> None:
    env = dict(os.environ, PYTHONPATH=CORE)
    text = "export SLACK=xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD\n"
    r = subprocess.run([sys.executable, "-m", "airlock", "redact"], input=text, capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and "xoxb-" not in r.stdout and "[REDACTED:slack_token]" in r.stdout
    r = subprocess.run([sys.executable, "-m", "airlock", "scan-secrets", "--json"], input=text, capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 1 and "GkwFD" not in r.stdout
    assert json.loads(r.stdout)["findings"][0]["kind"] == "slack_token"
