"""Settings: TOML round trip under the XDG config dir, atomic 0600 writes, bad files never crash."""

from __future__ import annotations

import math
import os
import stat
import threading
from pathlib import Path

import pytest

from airlock import _dirs
from airlock.settings import (TIMEOUT_MAX, TIMEOUT_MIN, Notifications, Settings, SettingsError, load_settings,
                              save_settings, settings_path)


def test_defaults_when_absent_are_safe() -> None:
    r = load_settings()
    assert r.ok and r.path == _dirs.config_dir() / "settings.toml"
    s = r.settings
    assert s.approval_timeout == 60.0 and s.on_no_answer == "deny" and s.when_closed == "fail-secure"
    assert s.audit_file() is None and s.muted_categories() == set()
    assert not r.path.exists()  # loading never writes


def test_round_trip_and_private_mode(isolated_dirs: Path) -> None:
    s = Settings(approval_timeout=42.5, when_closed="headless", audit_path="/var/tmp/a/audit.jsonl",
                 notifications=Notifications(injection=False, timeout=True, server=False, alert=True))
    p = save_settings(s)
    assert p == settings_path()
    assert str(p).startswith(os.environ["XDG_CONFIG_HOME"])
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700
    r = load_settings()
    assert r.ok, r.errors
    assert r.settings == s
    assert r.settings.muted_categories() == {"injection", "server"}
    assert r.settings.audit_file() == Path("/var/tmp/a/audit.jsonl")
    assert [f.name for f in p.parent.iterdir()] == ["settings.toml"]  # no temp file left behind


@pytest.mark.parametrize("body, needle", [
    (b"approval = [unclosed", "not valid TOML"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"approval = 3\n", "[approval] must be a table"),
])
def test_broken_file_gives_defaults_and_a_clear_error(body: bytes, needle: str) -> None:
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(body)
    r = load_settings()
    assert r.settings == Settings()
    assert r.errors and needle in r.errors[0] and str(p) in r.errors[0]
    assert p.read_bytes() == body  # left untouched


def test_bad_fields_are_reported_one_by_one_and_the_rest_kept() -> None:
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text('format = 1\n[approval]\ntimeout_seconds = 1e400\non_no_answer = "allow"\n'
                 '[app]\nwhen_closed = "headless"\n[audit]\npath = "relative/audit.jsonl"\n'
                 '[notifications]\ninjection = "yes"\nserver = false\nbogus = true\n')
    r = load_settings()
    s = r.settings
    assert s.approval_timeout == 60.0          # inf refused
    assert s.on_no_answer == "deny"            # "allow" refused: a timeout never lets a call through
    assert s.when_closed == "headless"         # a good field survives bad neighbours
    assert s.audit_path == ""                  # relative path refused
    assert s.notifications.injection is True and s.notifications.server is False
    text = "\n".join(r.errors)
    for needle in ("approval timeout", "never allowed", "absolute", "notifications.injection", "bogus"):
        assert needle in text, (needle, text)


def test_integer_timeout_is_accepted_and_bounds_enforced() -> None:
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("[approval]\ntimeout_seconds = 30\n")
    assert load_settings().settings.approval_timeout == 30.0
    for bad in (TIMEOUT_MIN - 1, TIMEOUT_MAX + 1, math.nan, True, "60"):
        with pytest.raises(SettingsError):
            Settings(approval_timeout=bad).validate()  # type: ignore[arg-type]
    with pytest.raises(SettingsError):
        save_settings(Settings(when_closed="leave-it-open"))
    assert not settings_path().exists() or "leave" not in settings_path().read_text()


def test_huge_file_is_refused_without_parsing() -> None:
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("# " + "x" * (300 * 1024) + "\n")
    r = load_settings()
    assert r.settings == Settings() and "larger than" in r.errors[0]


def test_deeply_nested_toml_is_an_error_not_a_crash() -> None:
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    r = load_settings()  # tomllib recurses per level: must become an error, not a RecursionError
    assert r.settings == Settings() and r.errors and "nested too deeply" in r.errors[0]


def test_concurrent_saves_never_leave_a_torn_file() -> None:
    values = [float(v) for v in range(10, 40)]

    def writer(v: float) -> None:
        save_settings(Settings(approval_timeout=v))

    threads = [threading.Thread(target=writer, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = load_settings()
    assert r.ok and r.settings.approval_timeout in values
    assert [f.name for f in settings_path().parent.iterdir()] == ["settings.toml"]


def test_copy_is_independent() -> None:
    a = Settings()
    b = a.copy(approval_timeout=10.0)
    b.notifications.alert = False
    assert a.notifications.alert is True and a.approval_timeout == 60.0
