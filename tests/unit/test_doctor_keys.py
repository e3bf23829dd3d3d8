"""``airlock doctor`` names the key backend and warns about keys older than 90 days, without
unlocking anything or printing a value (subprocess, encrypted-file backend, no OS keyring)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from airlock.keystore import keys_dir, open_store

CORE = str(Path(__file__).resolve().parents[2] / "core")
OLD = "sk-old-Zq8Lw3Rt6Yp1Xc4Vb7Nm2Kj5Hg9"
NEW = "sk-new-Pp8Lw3Rt6Yp1Xc4Vb7Nm2Kj5Hg0"


def _doctor() -> tuple[int, dict[str, dict], str]:
    env = dict(os.environ, PYTHONPATH=CORE, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    env.pop("AIRLOCK_MASTER_PASSWORD", None)  # doctor must not need (or ask for) the password
    r = subprocess.run([sys.executable, "-m", "airlock", "doctor", "--json"], capture_output=True, text=True,
                       env=env, timeout=120, stdin=subprocess.DEVNULL)
    return r.returncode, {c["name"]: c for c in json.loads(r.stdout)}, r.stdout + r.stderr


def test_doctor_shows_backend_and_stale_keys(monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "pw-doctor")
    store = open_store(prefer="file")
    store.set("OLD_API_KEY", OLD)
    store.set("NEW_API_KEY", NEW)
    meta = keys_dir() / "keys.json"
    data = json.loads(meta.read_text())
    data["keys"]["OLD_API_KEY"]["created"] = time.time() - 120 * 86400
    data["keys"]["OLD_API_KEY"]["current"]["stored"] = time.time() - 120 * 86400
    meta.write_text(json.dumps(data))

    _rc, checks, out = _doctor()
    assert checks["key backend"]["detail"].startswith("encrypted-file:") and "2 key(s)" in checks["key backend"]["detail"]
    age = checks["key age"]
    assert age["status"] == "warn" and "OLD_API_KEY (120 days)" in age["detail"] and "NEW_API_KEY" not in age["detail"]
    assert OLD not in out and NEW not in out

    store.rotate("OLD_API_KEY", "sk-rotated-Kk8Lw3Rt6Yp1Xc4Vb7Nm2Kj5Hg1")
    _rc, checks, _out = _doctor()
    assert checks["key age"]["status"] == "ok"


def test_doctor_without_keys_has_no_age_warning() -> None:
    _rc, checks, _out = _doctor()
    assert "0 key(s)" in checks["key backend"]["detail"] and "key age" not in checks
