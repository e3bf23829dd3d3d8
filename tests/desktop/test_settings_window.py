"""The Settings window (offscreen widgets): General persists and takes effect, Keys drives the real key store.

The keys page runs against the real encrypted-file backend (``AIRLOCK_MASTER_PASSWORD`` in a tmp
XDG data dir) and, when a session bus with a Secret Service is reachable (``../shared/desktop-env.sh``),
against the real OS keyring.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from airlock import _dirs
from airlock.keystore import open_store
from airlock.settings import Settings, load_settings, save_settings, settings_path

PASSWORD = "test master password 123"
SECRET = "sk-proj-T3stValue9x8y7z6w5v4u3t2s1r0qponmlkji"


@pytest.fixture
def airlock_app(qtbot, tmp_path: Path):
    from airlock_desktop.app import AirlockApp

    app = AirlockApp(socket_path=tmp_path / "s.sock", audit_path=tmp_path / "audit.jsonl",
                     policy_path=tmp_path / "policy.toml", host_server=False, force_window=True)
    yield app
    app.pause.stop()


def _no_unit() -> tuple[bool, str]:
    return False, "systemctl not found (test)"


def _window(qtbot, app, **kw):
    from airlock_desktop.settings_window import SettingsWindow

    kw.setdefault("unit_status", _no_unit)
    w = SettingsWindow(app, **kw)
    qtbot.addWidget(w)
    return w


def _file_store():
    return open_store(prefer="file")


# ---------------------------------------------------------------------------------------------- General
def test_general_apply_persists_and_takes_effect_in_the_running_app(qtbot, airlock_app) -> None:
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    g = w.general
    assert g.timeout.value() == 60 and not g.apply_btn.isEnabled()
    g.timeout.setValue(25)
    g.notify_boxes["injection"].setChecked(False)
    g.closed_buttons["headless"].setChecked(True)
    assert g.apply_btn.isEnabled() and "Unsaved" in g.message.text()
    g.apply_btn.click()
    assert "Saved to" in g.message.text() and not g.apply_btn.isEnabled()
    r = load_settings()
    assert r.ok and r.settings.approval_timeout == 25.0 and r.settings.when_closed == "headless"
    assert r.settings.notifications.injection is False and r.settings.notifications.server is True
    # in effect now: the approver, the popup queue and the notifier
    assert airlock_app.approver.timeout == 25.0 and airlock_app.queue.timeout == 25.0
    assert airlock_app.notifier.muted == {"injection"}
    before = len(airlock_app.notifier.sent)
    airlock_app.notifier.notify("injection", "blocked", "x")
    assert len(airlock_app.notifier.sent) == before
    airlock_app.notifier.notify("server", "down", "x")
    assert len(airlock_app.notifier.sent) == before + 1
    # the status page shows the new values
    w.tabs.setCurrentWidget(w.status)
    shown = w.status.values()
    assert shown["Approval timeout:"].startswith("25 s") and "injection" in shown["Notifications:"]


def test_a_new_app_starts_with_the_saved_settings(qtbot, tmp_path) -> None:
    from airlock_desktop.app import AirlockApp

    audit = tmp_path / "elsewhere" / "audit.jsonl"
    save_settings(Settings(approval_timeout=15.0, audit_path=str(audit)))
    app = AirlockApp(socket_path=tmp_path / "s.sock", policy_path=tmp_path / "p.toml", host_server=False,
                     force_window=True)
    assert app.approver.timeout == 15.0 and app.queue.timeout == 15.0
    assert app.audit_path == audit


def test_revert_and_invalid_input_never_save(qtbot, airlock_app) -> None:
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    g = w.general
    g.audit.setText("relative/audit.jsonl")
    assert not g.apply()
    assert "Not saved" in g.message.text() and "absolute" in g.message.text()
    assert not settings_path().exists()
    g.revert()
    assert g.audit.text() == "" and not g.apply_btn.isEnabled()


def test_broken_settings_file_is_shown_and_can_be_repaired(qtbot, airlock_app) -> None:
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("[approval\ntimeout_seconds = 5")
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    g = w.general
    assert not g.load_error.isHidden() and "not valid TOML" in g.load_error.text()
    assert g.timeout.value() == 60  # defaults shown
    assert not g.no_answer.isEnabled() and g.no_answer.currentData() == "deny"
    g.timeout.setValue(90)
    assert g.apply()
    assert load_settings().settings.approval_timeout == 90.0 and g.load_error.isHidden()


# ---------------------------------------------------------------------------------------------- Keys (file)
def _modal(qtbot, timeout_ms: int = 3000):
    found = []
    qtbot.waitUntil(lambda: (found.append(QApplication.activeModalWidget()) or found[-1]) is not None,
                    timeout=timeout_ms)
    return found[-1]


def _values_on_disk() -> bytes:
    blob = b""
    for base in (_dirs.config_dir(), _dirs.data_dir(), _dirs.state_dir(), _dirs.cache_dir()):
        if base.exists():
            for f in base.rglob("*"):
                if f.is_file():
                    blob += f.read_bytes()
    return blob


def test_keys_page_add_rotate_rollback_delete_on_the_encrypted_file(qtbot, airlock_app, monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", PASSWORD)
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    k = w.keys
    assert "Encrypted file" in k.backend_label.text() and str(_dirs.data_dir()) in k.backend_label.text()
    assert k.table.rowCount() == 0 and not k.delete_btn.isEnabled()

    # add through the real dialog: a bad name first, then a good one
    def fill(name: str, value: str, then_fix: str | None = None) -> None:
        dlg = _modal(qtbot)
        dlg.name.setText(name)
        dlg.value.setText(value)
        dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
        if then_fix is not None:
            assert "invalid key name" in dlg.error.text() and dlg.isVisible()
            dlg.name.setText(then_fix)
            dlg.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()

    QTimer.singleShot(0, lambda: fill("bad name!", SECRET, then_fix="OPENAI_API_KEY"))
    k.add_btn.click()
    assert [i.name for i in k.infos] == ["OPENAI_API_KEY"]
    assert k.table.item(0, 1).text() == "••••••••••••"
    shown = " ".join(k.table.item(r, c).text() for r in range(k.table.rowCount()) for c in range(6))
    assert SECRET not in shown and SECRET[:8] not in shown
    assert SECRET.encode() not in _values_on_disk()
    assert _file_store().get("OPENAI_API_KEY") == SECRET

    # rotate, then roll back (confirmed)
    k.select("OPENAI_API_KEY")
    assert k.rotate_key("OPENAI_API_KEY", SECRET + "NEW")
    assert _file_store().get("OPENAI_API_KEY") == SECRET + "NEW"
    assert k.table.item(0, 5).text() == "1" and k.rollback_btn.isEnabled()
    QTimer.singleShot(0, lambda: _modal(qtbot).button(QMessageBox.StandardButton.Yes).click())
    k.rollback_btn.click()
    assert _file_store().get("OPENAI_API_KEY") == SECRET

    # delete: Cancel keeps it, Yes removes it
    k.select("OPENAI_API_KEY")
    QTimer.singleShot(0, lambda: _modal(qtbot).button(QMessageBox.StandardButton.Cancel).click())
    k.delete_btn.click()
    assert "OPENAI_API_KEY" in _file_store()
    k.select("OPENAI_API_KEY")
    QTimer.singleShot(0, lambda: _modal(qtbot).button(QMessageBox.StandardButton.Yes).click())
    k.delete_btn.click()
    assert "OPENAI_API_KEY" not in _file_store() and k.table.rowCount() == 0
    assert "Deleted" in k.message.text()


def test_add_dialog_refuses_duplicates_and_empty_values(qtbot) -> None:
    from airlock_desktop.settings_window._key_dialog import KeyDialog

    d = KeyDialog(existing={"A_KEY"})
    qtbot.addWidget(d)
    d.name.setText("A_KEY")
    d.value.setText("v")
    assert "exists already" in d.problem()
    d.name.setText("B_KEY")
    d.value.setText("")
    assert "empty" in d.problem()
    d.value.setText(" padded ")
    assert "spaces" in d.problem()
    d.value.setText("ok-value")
    assert d.problem() == "" and d.result_pair() == ("B_KEY", "ok-value")


def test_stale_keys_are_flagged(qtbot, airlock_app, monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", PASSWORD)
    store = _file_store()
    store.set("OLD_KEY", "old-value-123456")
    store.set("FRESH_KEY", "fresh-value-123456")
    keys = store._meta.load()  # age one key as if stored 120 days ago (the real metadata file)
    keys["OLD_KEY"].created -= 120 * 86400
    keys["OLD_KEY"].current.stored -= 120 * 86400
    store._meta.save(keys)
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    k = w.keys
    ages = {k.table.item(r, 0).text(): k.table.item(r, 2).text() for r in range(k.table.rowCount())}
    assert ages["OLD_KEY"].startswith("⚠ 120 days") and ages["FRESH_KEY"] == "today"
    assert not k.stale_label.isHidden() and "OLD_KEY" in k.stale_label.text()
    assert "FRESH_KEY" not in k.stale_label.text()
    k.rotate_key("OLD_KEY", "new-value-654321")
    assert k.stale_label.isHidden()


def test_wrong_master_password_is_shown_and_changes_nothing(qtbot, airlock_app, monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", PASSWORD)
    _file_store().set("KEEP", "keep-value-123456")
    enc = _dirs.data_dir() / "keys" / "secrets.enc"
    before = enc.read_bytes()
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", "not the password")
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    k = w.keys
    assert [i.name for i in k.infos] == ["KEEP"]  # listing needs no password
    assert not k.add_key("OTHER", "other-value-123")
    assert "wrong master password" in k.message.text()
    k.select("KEEP")
    assert not k.copy_selected()
    assert enc.read_bytes() == before


def test_copy_puts_the_value_on_the_clipboard_and_clears_it(qtbot, airlock_app, monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", PASSWORD)
    _file_store().set("OPENAI_API_KEY", SECRET)
    w = _window(qtbot, airlock_app, store_factory=_file_store, clear_after_ms=300)
    k = w.keys
    cb = QGuiApplication.clipboard()
    k.select("OPENAI_API_KEY")
    t0 = time.monotonic()
    assert k.copy_selected()
    assert cb.text() == SECRET and "0.3 s" in k.message.text()
    assert cb.mimeData().data("x-kde-passwordManagerHint").data() == b"secret"
    assert k.table.item(0, 4).text() != "never"  # last used moved
    qtbot.waitUntil(lambda: cb.text() == "", timeout=3000)
    assert time.monotonic() - t0 >= 0.25 and k.message.text() == "Clipboard cleared."
    # the user copied something else meanwhile: left alone
    assert k.copy_selected()
    cb.setText("the user's own text")
    qtbot.waitUntil(lambda: not k.clipboard.armed, timeout=3000)
    assert cb.text() == "the user's own text" and "changed since" in k.message.text()


def test_default_clear_delay_is_30_seconds(qtbot, airlock_app, monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", PASSWORD)
    w = _window(qtbot, airlock_app, store_factory=_file_store)
    assert w.keys.clipboard.clear_after_ms == 30_000


def test_window_from_the_app_has_three_pages(qtbot, airlock_app, monkeypatch) -> None:
    monkeypatch.setenv("AIRLOCK_MASTER_PASSWORD", PASSWORD)
    w = airlock_app.show_window("settings")
    qtbot.addWidget(w)
    assert [w.tabs.tabText(i) for i in range(w.tabs.count())] == ["General", "Keys", "Status"]
    assert w.status.values()["Socket:"] == str(airlock_app.socket_path)
    assert "Backend:" in w.keys.backend_label.text()


# ---------------------------------------------------------------------------------------------- Keys (keyring)
def _secret_service_or_skip() -> None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.skip("no DBUS_SESSION_BUS_ADDRESS: run under ../shared/desktop-env.sh for the real keyring")
    from airlock.keystore import BackendUnavailable
    from airlock.keystore._keyring_backend import KeyringBackend

    try:
        KeyringBackend().probe()
    except BackendUnavailable as exc:
        pytest.skip(f"no usable Secret Service: {exc}")


def test_keys_page_on_the_real_os_keyring(qtbot, airlock_app, monkeypatch) -> None:
    _secret_service_or_skip()
    monkeypatch.delenv("AIRLOCK_MASTER_PASSWORD", raising=False)
    name = f"AIRLOCK_TEST_{os.getpid()}_{int(time.time())}"
    w = _window(qtbot, airlock_app, store_factory=lambda: open_store(prefer="keyring"), clear_after_ms=200)
    k = w.keys
    assert "OS keyring" in k.backend_label.text()
    try:
        assert k.add_key(name, SECRET)
        assert open_store(prefer="keyring").get(name) == SECRET
        assert SECRET.encode() not in _values_on_disk()
        k.select(name)
        assert k.copy_selected() and QGuiApplication.clipboard().text() == SECRET
        qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() == "", timeout=3000)
    finally:
        k.delete_key(name)
    assert name not in open_store(prefer="keyring")
