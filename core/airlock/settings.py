"""User settings of the desktop app, persisted as TOML in ``$XDG_CONFIG_HOME/airlock/settings.toml``.

Qt-free so the CLI, ``airlock doctor`` and tests can read the same file. Loading never raises
for a bad file: it returns the defaults (field by field where possible) plus a clear message,
and does not overwrite the file until the user saves. Writes are atomic and 0600.

What can *not* be configured, on purpose: an unanswered approval is always denied (recorded
as ``timeout``, never turned into a rule), and agents are denied while no server runs.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import _dirs
from ._atomic import write_private

__all__ = ["Settings", "Notifications", "LoadResult", "settings_path", "load_settings", "save_settings",
           "NO_ANSWER_CHOICES", "WHEN_CLOSED_CHOICES", "TIMEOUT_MIN", "TIMEOUT_MAX", "headless_unit_status",
           "start_headless_server", "stop_headless_server", "SettingsError", "HEADLESS_UNIT"]

FORMAT = 1
TIMEOUT_MIN, TIMEOUT_MAX = 5.0, 3600.0
HEADLESS_UNIT = "airlock.service"

#: What happens when nobody answers an approval. Deliberately a single choice: a timeout must never
#: let a call through nor become a rule. It is a setting so the file and the window can say so
#: explicitly (and a hand-edited "allow" is refused with a reason). Whether a timeout also shows a
#: notification is ``notifications.timeout``.
NO_ANSWER_CHOICES = {
    "deny": "Deny the call, record it as timeout, never save it as a rule",
}
#: What happens to agents when the tray app is closed.
WHEN_CLOSED_CHOICES = {
    "fail-secure": "Stop the server: agents' risky calls are denied until Airlock runs again",
    "headless": "Hand over to the headless server (systemd user unit airlock.service)",
}


class SettingsError(ValueError):
    """A setting has an invalid value; the message says which and why."""


@dataclass
class Notifications:
    """Per category on/off; the field names are the tray notifier's categories."""
    injection: bool = True   # a prompt injection was blocked
    timeout: bool = True     # an approval timed out (it was denied)
    server: bool = True      # the server is down or failed to start
    alert: bool = True       # anomaly alerts from the monitor

    LABELS = {"injection": "Injection blocked", "timeout": "Approval timed out",
              "server": "Server problems", "alert": "Anomaly alerts"}


@dataclass
class Settings:
    approval_timeout: float = 60.0
    on_no_answer: str = "deny"
    when_closed: str = "fail-secure"
    audit_path: str = ""  # empty: the default under $XDG_STATE_HOME/airlock
    notifications: Notifications = field(default_factory=Notifications)

    def validate(self) -> "Settings":
        """Raise SettingsError naming the first bad field; returns self for chaining."""
        t = self.approval_timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) \
                or not TIMEOUT_MIN <= t <= TIMEOUT_MAX:
            raise SettingsError(f"approval timeout must be a number of seconds from {TIMEOUT_MIN:g} "
                                f"to {TIMEOUT_MAX:g}, not {t!r:.40}")
        if self.on_no_answer not in NO_ANSWER_CHOICES:
            raise SettingsError(f"on_no_answer must be {' or '.join(NO_ANSWER_CHOICES)} (an unanswered request "
                                f"is never allowed), not {str(self.on_no_answer)!r:.40}")
        if self.when_closed not in WHEN_CLOSED_CHOICES:
            raise SettingsError(f"when_closed must be one of {', '.join(WHEN_CLOSED_CHOICES)}, "
                                f"not {str(self.when_closed)!r:.40}")
        if not isinstance(self.audit_path, str) or "\x00" in self.audit_path:
            raise SettingsError("audit path must be a path string")
        if self.audit_path and not os.path.isabs(os.path.expanduser(self.audit_path)):
            raise SettingsError(f"audit path must be absolute: {self.audit_path[:80]!r}")
        for f in fields(Notifications):
            if not isinstance(getattr(self.notifications, f.name), bool):
                raise SettingsError(f"notifications.{f.name} must be true or false")
        return self

    # ------------------------------------------------------------- derived
    def audit_file(self) -> Path | None:
        """The configured audit log path, or None for the default."""
        return Path(os.path.expanduser(self.audit_path)) if self.audit_path else None

    def muted_categories(self) -> set[str]:
        return {f.name for f in fields(Notifications) if not getattr(self.notifications, f.name)}

    # ---------------------------------------------------------------- TOML
    def to_toml_dict(self) -> dict[str, Any]:
        return {"format": FORMAT,
                "approval": {"timeout_seconds": float(self.approval_timeout), "on_no_answer": self.on_no_answer},
                "app": {"when_closed": self.when_closed},
                "audit": {"path": self.audit_path},
                "notifications": {f.name: getattr(self.notifications, f.name) for f in fields(Notifications)}}

    def copy(self, **changes: Any) -> "Settings":
        return replace(self, notifications=replace(self.notifications), **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadResult:
    settings: Settings
    errors: list[str]  # empty when the file was fine or absent
    path: Path

    @property
    def ok(self) -> bool:
        return not self.errors


def settings_path() -> Path:
    return _dirs.config_dir() / "settings.toml"


_MAX_BYTES = 256 * 1024


def _from_toml(raw: dict[str, Any], errors: list[str]) -> Settings:
    """Field by field: a bad value is reported and replaced by its default; the rest is kept."""
    s = Settings()

    def table(name: str) -> dict[str, Any]:
        t = raw.get(name, {})
        if not isinstance(t, dict):
            errors.append(f"[{name}] must be a table; using defaults for it")
            return {}
        return t

    def take(attr: str, value: Any, target: Any = s) -> None:
        old = getattr(target, attr)
        setattr(target, attr, value)
        try:
            s.validate()
        except SettingsError as exc:
            setattr(target, attr, old)
            errors.append(f"{exc}; using the default")

    fmt = raw.get("format", FORMAT)
    if fmt != FORMAT:
        errors.append(f"unknown settings format {fmt!r:.20} (expected {FORMAT}); reading what is understood")
    a = table("approval")
    if "timeout_seconds" in a:
        v = a["timeout_seconds"]
        take("approval_timeout", float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
    if "on_no_answer" in a:
        take("on_no_answer", a["on_no_answer"])
    app = table("app")
    if "when_closed" in app:
        take("when_closed", app["when_closed"])
    au = table("audit")
    if "path" in au:
        take("audit_path", au["path"])
    n = table("notifications")
    known = {f.name for f in fields(Notifications)}
    for k, v in n.items():
        if k in known:
            take(k, v, s.notifications)
        else:
            errors.append(f"unknown notification category {str(k)[:40]!r} ignored")
    return s


def load_settings(path: Path | None = None) -> LoadResult:
    """Read the settings; never raises for a bad or unreadable file (defaults + errors instead)."""
    p = Path(path) if path else settings_path()
    errors: list[str] = []
    try:
        with open(p, "rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return LoadResult(Settings(), [], p)
    except OSError as exc:
        return LoadResult(Settings(), [f"cannot read {p}: {exc.strerror or exc}; using defaults"], p)
    if len(data) > _MAX_BYTES:
        return LoadResult(Settings(), [f"{p} is larger than {_MAX_BYTES // 1024} KiB; using defaults"], p)
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return LoadResult(Settings(), [f"{p} is not UTF-8 text; using defaults (file left untouched)"], p)
    except tomllib.TOMLDecodeError as exc:
        return LoadResult(Settings(), [f"{p} is not valid TOML ({exc}); using defaults (file left untouched)"], p)
    except RecursionError:
        return LoadResult(Settings(), [f"{p} is nested too deeply; using defaults (file left untouched)"], p)
    s = _from_toml(raw, errors)
    return LoadResult(s, [f"{p}: {e}" for e in errors], p)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Validate, then write atomically with mode 0600 (temp file in the same dir, fsync, rename)."""
    import tomli_w

    settings.validate()
    p = Path(path) if path else settings_path()
    if path is None:
        _dirs.ensure_private_dir(p.parent)
    else:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = ("# Airlock settings (edited by the Settings window; hand edits are fine)\n"
            + tomli_w.dumps(settings.to_toml_dict())).encode("utf-8")
    write_private(p, body)
    return p


# ------------------------------------------------------------------ headless server (systemd --user)
def _systemctl(*args: str, timeout: float = 5.0) -> tuple[int, str]:
    exe = shutil.which("systemctl")
    if exe is None:
        return 127, "systemctl not found (no systemd on this system)"
    try:
        r = subprocess.run([exe, "--user", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, f"systemctl failed: {exc}"
    return r.returncode, (r.stdout + r.stderr).strip()[:500]


def headless_unit_status() -> tuple[bool, str]:
    """(installed, human detail) for the systemd user unit that runs ``airlock serve``."""
    rc, out = _systemctl("cat", HEADLESS_UNIT)
    if rc == 127:
        return False, out
    if rc != 0:
        return False, (f"{HEADLESS_UNIT} is not installed for your user (its header in "
                       "packaging/airlock.service says how)")
    rc, out = _systemctl("is-active", HEADLESS_UNIT)
    return True, f"{HEADLESS_UNIT} installed ({out or 'unknown'})"


def start_headless_server() -> tuple[bool, str]:
    """Best effort, after the tray's own server stopped; returns (started, detail)."""
    rc, out = _systemctl("start", HEADLESS_UNIT, timeout=10.0)
    return rc == 0, out or ("started " + HEADLESS_UNIT if rc == 0 else f"systemctl exit {rc}")


def stop_headless_server() -> tuple[bool, str]:
    """Before the tray hosts the server again (the socket can have only one owner)."""
    rc, out = _systemctl("stop", HEADLESS_UNIT, timeout=10.0)
    return rc == 0, out
