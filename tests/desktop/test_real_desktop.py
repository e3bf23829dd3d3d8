"""The tray app on a real X desktop (../shared/desktop-env.sh): real socket client, real dialog,
real clicks with xdotool, real notifications through dunst, real audit records.

Run: eval "$(bash ../shared/desktop-env.sh start)"; AIRLOCK_KEEP_RUNTIME_DIR=1 pytest tests/desktop -m desktop
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.desktop, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("AIRLOCK_SHOTS", "/tmp/airlock"))


def _need_desktop() -> None:
    if not os.environ.get("DISPLAY"):
        pytest.skip("no DISPLAY: start a desktop with eval \"$(bash ../shared/desktop-env.sh start)\"")
    for tool in ("xdotool", "import"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (desktop-env.sh installs it)")


def _x(*args: str) -> str:
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=10).stdout.strip()


def _wait(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _geometry(win: str) -> tuple[int, int, int, int]:
    out = _x("getwindowgeometry", "--shell", win)
    g = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])


def _dialog() -> str | None:
    ids = [w for w in _x("search", "--onlyvisible", "--name", "^Airlock: approval needed$").split() if w]
    return ids[-1] if ids else None


def _shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    p = SHOTS / f"shot_{name}.png"
    subprocess.run(["import", "-window", "root", str(p)], timeout=20, check=False)
    return p


@pytest.fixture()
def tray_app(tmp_path: Path):
    _need_desktop()
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", PYTHONPATH=f"{REPO / 'core'}:{REPO / 'desktop'}")
    sock, audit = tmp_path / "airlock.sock", tmp_path / "audit.jsonl"
    log = open(tmp_path / "tray.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "airlock", "tray", "--socket", str(sock), "--audit", str(audit),
                             "--policy", str(tmp_path / "policy.toml"), "--timeout", "4"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    from airlock.server import probe

    try:
        _wait(lambda: probe(sock, timeout=0.3), 20, "the tray app's server")
        yield proc, sock, audit
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print((tmp_path / "tray.log").read_text()[-3000:])


def _ask(sock: Path, tool_input: dict, out: dict) -> threading.Thread:
    from airlock._client import Client, RemoteDecider
    from airlock.events import BeforeToolEvent

    def run() -> None:
        d = RemoteDecider(Client(sock, agent_name="desktop-test-agent", approval_timeout=60))
        out["decision"] = d.before_tool(BeforeToolEvent(tool_name="execute_command", tool_input=tool_input))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _records(audit: Path) -> list[dict]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]


def test_click_approve_then_timeout_with_notification(tray_app):
    proc, sock, audit = tray_app
    # 1. a critical tool call from a real client -> real dialog -> xdotool clicks Approve
    out: dict = {}
    t = _ask(sock, {"command": "make deploy"}, out)
    win = _wait(_dialog, 15, "the approval dialog")
    time.sleep(1.3)  # the buttons ignore clicks for the first second
    _shot("dialog")
    x, y, w, h = _geometry(win)
    _x("mousemove", str(x + w - 66), str(y + h - 23))
    time.sleep(0.2)
    _x("click", "1")
    t.join(15)
    d = out["decision"]
    assert d.outcome.value == "approved" and d.decided_by == "user", d
    rec = _wait(lambda: [r for r in _records(audit) if r.get("decision") == "approved"], 5, "the audit record")
    assert rec[-1]["decided_by"] == "user" and rec[-1]["tool_name"] == "execute_command"

    # 2. nobody answers -> denied as timeout, a notification arrives, never a rule
    _x("mousemove", "5", "5")  # pointer away, so the countdown runs
    out2: dict = {}
    t2 = _ask(sock, {"command": "rm -rf build"}, out2)
    _wait(_dialog, 15, "the second dialog")
    t2.join(30)
    d2 = out2["decision"]
    assert d2.outcome.value == "timeout" and d2.decided_by == "timeout" and not d2.allowed, d2
    recs = _records(audit)
    assert [r["decision"] for r in recs if r.get("tool_name") == "execute_command"][-2:] == ["approved", "timeout"]
    assert not (audit.parent / "policy.toml").exists() or "rm -rf" not in (audit.parent / "policy.toml").read_text()
    if shutil.which("dunstctl"):
        hist = _wait(lambda: (lambda s: s if "approval timed out" in s else None)(
            subprocess.run(["dunstctl", "history"], capture_output=True, text=True, timeout=10).stdout), 10,
            "the timeout notification in dunst")
        assert "approval timed out" in hist
    assert proc.poll() is None  # the app is still running

    # 3. the audit window, a real window on the same desktop, shows both records
    check = subprocess.run(
        [sys.executable, "-c", _AUDIT_WINDOW_CHECK, str(audit), str(SHOTS / "shot_audit_real.png")],
        env=dict(os.environ, QT_QPA_PLATFORM="xcb", PYTHONPATH=f"{REPO / 'core'}:{REPO / 'desktop'}"),
        capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "approved" in check.stdout and "timeout" in check.stdout


# Opens the audit window on the log, waits for its rows, screenshots the desktop, prints the decisions shown.
_AUDIT_WINDOW_CHECK = r'''
import subprocess, sys, time
from PySide6.QtWidgets import QApplication
from airlock_desktop.audit_window.window import AuditWindow
app = QApplication([])
w = AuditWindow(sys.argv[1])
w.resize(1100, 500); w.show()
model = w.table.model()
end = time.monotonic() + 20
seen = []
while time.monotonic() < end:
    app.processEvents(); time.sleep(0.05)
    if model.rowCount() >= 2:
        seen = [str(model.index(r, c).data()) for r in range(model.rowCount()) for c in range(model.columnCount())]
        if any("approved" in s for s in seen) and any("timeout" in s for s in seen):
            break
for _ in range(20):
    app.processEvents(); time.sleep(0.05)
subprocess.run(["import", "-window", "root", sys.argv[2]], timeout=20, check=False)
print(" ".join(seen))
w.close()
'''
