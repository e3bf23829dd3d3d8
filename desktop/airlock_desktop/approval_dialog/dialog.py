"""The approval popup: who wants to run what, why it is asked, and Approve / Deny with a scope.

Designed against OpenSnitch users' complaints: it never grabs keyboard focus (it shows without
activating), Enter does nothing, Esc denies, the buttons ignore clicks for the first second, and
the countdown pauses while the pointer is over the dialog or it has focus. The dialog only
*reports* what the user chose (``answered``); the queue turns that into an ``ApprovalDecision``.

Secrets in the tool input are shown masked by the redaction engine ("Reveal secrets" shows them).
A key request (``desktop_hooks.get_secret``: tool ``airlock.get_secret``) gets its own wording,
no input view and the key scopes (once / this session / always for this agent); its "always" is
remembered by the key broker, so it never creates a policy rule.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from airlock.events import ApprovalRequest, BeforeAgentEvent, Scope
from airlock.keystore._broker import TOOL_NAME as SECRET_TOOL
from airlock.redaction import filter_value

from .._rule_draft import RuleDraft
from ._format import RISK_COLORS, event_input, findings_html, input_html

__all__ = ["ApprovalDialog", "UserAnswer", "SCOPE_LABELS", "SECRET_SCOPE_LABELS"]

SCOPE_LABELS = [
    (Scope.ONCE, "Once"),
    (Scope.SESSION, "For this agent session"),
    (Scope.HOUR, "For 1 hour"),
    (Scope.ALWAYS, "Always (create a rule)"),
]

SECRET_SCOPE_LABELS = [
    (Scope.ONCE, "Once"),
    (Scope.SESSION, "For this agent session"),
    (Scope.ALWAYS, "Always for this agent"),
]


@dataclass(slots=True)
class UserAnswer:
    approved: bool
    scope: Scope
    timed_out: bool = False
    rule: RuleDraft | None = None
    error: str = ""   # the rule draft could not be read (bad JSON): shown, and the rule is not created


class ApprovalDialog(QDialog):
    """One request. Emits ``answered(UserAnswer)`` exactly once, then closes."""

    answered = Signal(object)

    def __init__(self, request: ApprovalRequest, timeout: float = 60.0, arm_delay_ms: int = 1000,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self.secret = getattr(request.event, "tool_name", None) == SECRET_TOOL
        self._scopes = SECRET_SCOPE_LABELS if self.secret else SCOPE_LABELS
        self.remaining = float(timeout)
        self._done = False
        self._last_tick = time.monotonic()
        self._touched = False
        self.setObjectName("airlockApprovalDialog")
        self.setWindowTitle("Airlock: key requested" if self.secret else "Airlock: approval needed")
        self.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        # Never steal focus from what the user is typing into.
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        self.setMinimumWidth(560)
        self._build()
        self._set_armed(arm_delay_ms <= 0)
        if arm_delay_ms > 0:
            QTimer.singleShot(arm_delay_ms, lambda: self._set_armed(True))
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._update_countdown()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        ev, v = self.request.event, self.request.verdict
        tool = "the model (prompt)" if isinstance(ev, BeforeAgentEvent) else getattr(ev, "tool_name", "?")
        risk = v.risk.name.lower()

        root = QVBoxLayout(self)
        key = str((getattr(ev, "tool_input", None) or {}).get("name", "?")) if self.secret else ""
        title = QLabel(f"<b>{_esc(ev.agent.name)}</b> (pid {ev.agent.pid}) asks for the key <b>{_esc(key)}</b>"
                       if self.secret else f"<b>{_esc(ev.agent.name)}</b> wants to run <b>{_esc(tool)}</b>")
        title.setObjectName("title")
        title.setTextFormat(Qt.TextFormat.RichText)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        title.setFont(f)
        title.setWordWrap(True)
        root.addWidget(title)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        agent = QLabel(f"{_esc(ev.agent.name)} (pid {ev.agent.pid})"
                       + (f", session {_esc(ev.agent.session_id)}" if ev.agent.session_id else ""))
        form.addRow("Agent:", agent)
        if ev.agent.exe:
            form.addRow("Program:", _elided(ev.agent.exe))
        if ev.agent.cmdline:
            form.addRow("Command:", _elided(ev.agent.cmdline))
        color = RISK_COLORS.get(risk, "#5f6b77")
        self.risk_label = QLabel(f'<span style="color:white;background:{color};padding:2px 6px">'
                                 f"&nbsp;{risk.upper()}&nbsp;</span>")
        self.risk_label.setObjectName("risk")
        form.addRow("Risk:", self.risk_label)
        why = QLabel(_esc(v.reason or "asked by policy") + (f" <i>({_esc(v.decided_by)})</i>" if v.decided_by else ""))
        why.setObjectName("reason")
        why.setWordWrap(True)
        form.addRow("Why asked:", why)
        root.addLayout(form)

        self.input_view = QTextBrowser()
        self.input_view.setObjectName("input")
        self.input_view.setOpenLinks(False)
        self.input_view.setMinimumHeight(140)
        self.input_view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._value = event_input(ev)
        try:
            self._masked = filter_value(self._value)
        except Exception:  # noqa: BLE001 - never show what could not be masked unless asked
            self._masked = "(the input could not be masked; use Reveal secrets to see it)"
        in_row = QHBoxLayout()
        in_row.addWidget(QLabel("<b>Input</b>"))
        in_row.addStretch(1)
        self.reveal_box = QCheckBox("Reveal secrets")
        self.reveal_box.setObjectName("reveal")
        self.reveal_box.setToolTip("Values that look like keys, tokens or personal data are masked; "
                                   "tick to see them as the agent sent them")
        self.reveal_box.setVisible(self._masked != self._value)
        self.expand_box = QCheckBox("Show long values in full")
        for box in (self.reveal_box, self.expand_box):
            box.toggled.connect(self._render_input)
            in_row.addWidget(box)
        self._render_input()
        if self.secret:
            note = QLabel("If you approve, the key's value is sent to this process only, over the local "
                          "Airlock socket. It is never shown here and never written to the audit log.")
            note.setObjectName("secretNote")
            note.setWordWrap(True)
            root.addWidget(note)
        else:
            root.addLayout(in_row)
            root.addWidget(self.input_view, 1)

        if v.findings:
            root.addWidget(QLabel(f"<b>Injection findings</b> (threat level {v.threat_level.name})"))
            self.findings_view = QTextBrowser()
            self.findings_view.setObjectName("findings")
            self.findings_view.setHtml(findings_html(v))
            self.findings_view.setFixedHeight(min(120, 34 + 22 * len(v.findings)))
            root.addWidget(self.findings_view)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        root.addWidget(line)

        scope_row = QHBoxLayout()
        scope_row.addWidget(QLabel("Remember:"))
        self.scope_box = QComboBox()
        self.scope_box.setObjectName("scope")
        for scope, label in self._scopes:
            self.scope_box.addItem(label)
        self.scope_box.currentIndexChanged.connect(self._scope_changed)
        scope_row.addWidget(self.scope_box)
        scope_row.addStretch(1)
        root.addLayout(scope_row)

        # The rule an "always"/"1 hour" answer would create: prefilled, editable before saving.
        self.rule_box = QWidget()
        rform = QFormLayout(self.rule_box)
        rform.setContentsMargins(0, 0, 0, 0)
        self.rule_tool = QLineEdit(tool if not isinstance(ev, BeforeAgentEvent) else "")
        self.rule_tool.setObjectName("ruleTool")
        self.rule_args = QLineEdit(json.dumps(_arg_patterns(getattr(ev, "tool_input", {}) or {}),
                                              ensure_ascii=False))
        self.rule_args.setObjectName("ruleArgs")
        self.rule_args.setToolTip("JSON object of argument patterns the rule matches (glob patterns allowed); "
                                  "{} matches any arguments")
        self.rule_agent = QLineEdit(ev.agent.name)
        self.rule_agent.setToolTip("Agent name the rule applies to; empty = every agent")
        rform.addRow("Rule tool:", self.rule_tool)
        rform.addRow("Arguments:", self.rule_args)
        rform.addRow("Agent:", self.rule_agent)
        self.rule_box.setVisible(False)
        root.addWidget(self.rule_box)

        bottom = QHBoxLayout()
        self.more_label = QLabel("")
        self.more_label.setObjectName("more")
        bottom.addWidget(self.more_label)
        bottom.addStretch(1)
        self.countdown = QLabel("")
        self.countdown.setObjectName("countdown")
        bottom.addWidget(self.countdown)
        self.deny_btn = QPushButton("Deny")
        self.deny_btn.setObjectName("deny")
        self.approve_btn = QPushButton("Approve")
        self.approve_btn.setObjectName("approve")
        for b in (self.deny_btn, self.approve_btn):
            b.setAutoDefault(False)
            b.setDefault(False)
            b.setMinimumWidth(110)
            b.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.deny_btn.clicked.connect(lambda: self._answer(False))
        self.approve_btn.clicked.connect(lambda: self._answer(True))
        bottom.addWidget(self.deny_btn)
        bottom.addWidget(self.approve_btn)
        root.addLayout(bottom)
        self.resize(640, 520)

    def _render_input(self) -> None:
        shown = self._value if self.reveal_box.isChecked() else self._masked
        self.input_view.setHtml(input_html(shown, self.request.verdict, folded=not self.expand_box.isChecked()))

    def set_more_pending(self, n: int) -> None:
        self.more_label.setText(f"{n} more pending" if n > 0 else "")

    # ------------------------------------------------------------- behaviour
    def _scope_changed(self) -> None:
        self.rule_box.setVisible(not self.secret and self.scope in (Scope.ALWAYS, Scope.HOUR))

    @property
    def scope(self) -> Scope:
        return self._scopes[max(0, self.scope_box.currentIndex())][0]

    def _set_armed(self, armed: bool) -> None:
        self.approve_btn.setEnabled(armed)
        self.deny_btn.setEnabled(armed)

    @property
    def armed(self) -> bool:
        return self.approve_btn.isEnabled()

    def _paused(self) -> bool:
        # Focus counts only once the user has touched the dialog: a window manager that activates
        # new windows on its own must not freeze the countdown forever.
        return self.underMouse() or (self._touched and self.isActiveWindow())

    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if not self._paused():
            self.remaining -= dt
        if self.remaining <= 0:
            self._finish(UserAnswer(False, Scope.ONCE, timed_out=True))
            return
        self._update_countdown()

    def _update_countdown(self) -> None:
        secs = max(0, int(self.remaining + 0.999))
        paused = " (paused)" if self._paused() else ""
        self.countdown.setText(f"Denied in {secs} s{paused}")

    def _answer(self, approved: bool) -> None:
        if not self.armed:
            return
        scope = self.scope
        rule, error = None, ""
        if scope in (Scope.ALWAYS, Scope.HOUR) and not self.secret:
            rule, error = self._draft(approved, scope)
        self._finish(UserAnswer(approved, scope, rule=rule, error=error))

    def _draft(self, approved: bool, scope: Scope) -> tuple[RuleDraft | None, str]:
        tool = self.rule_tool.text().strip()
        if not tool:
            return None, "a rule needs a tool name"
        try:
            args = json.loads(self.rule_args.text() or "{}")
        except ValueError as exc:
            return None, f"rule arguments are not valid JSON ({exc})"
        if not isinstance(args, dict) or not all(isinstance(x, str) for x in args.values()):
            return None, "rule arguments must be a JSON object of glob patterns (strings)"
        return RuleDraft(
            tool=tool, action="allow" if approved else "deny", args=args or None,
            agent=self.rule_agent.text().strip() or None,
            expires=time.time() + 3600 if scope is Scope.HOUR else None,
            comment=f"created from the approval dialog ({'approved' if approved else 'denied'}, {scope.value})",
        ), ""

    def _finish(self, answer: UserAnswer) -> None:
        if self._done:
            return
        self._done = True
        self._timer.stop()
        self.answered.emit(answer)
        QDialog.done(self, 0)  # hides; QDialog.close() would route back through reject()

    def deny_now(self) -> None:
        """Deny without the arming delay (Esc, or the window being closed)."""
        self._finish(UserAnswer(False, Scope.ONCE))

    def dismiss(self) -> None:
        """The request was answered elsewhere (e.g. the approver's hard limit): close without answering."""
        self._done = True
        self._timer.stop()
        QDialog.done(self, 0)

    # ------------------------------------------------------------ key/close
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt naming)
        if event.key() == Qt.Key.Key_Escape:
            self.deny_now()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()  # no default button: Enter never approves
            return
        super().keyPressEvent(event)

    def reject(self) -> None:
        self.deny_now()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._done:
            self._finish(UserAnswer(False, Scope.ONCE))
        event.accept()  # never refuse to close (a refused close would also cancel app quit)

    def event(self, e: QEvent) -> bool:
        if e.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.KeyPress):
            self._touched = True
        if e.type() in (QEvent.Type.Enter, QEvent.Type.Leave, QEvent.Type.WindowActivate,
                        QEvent.Type.WindowDeactivate):
            QTimer.singleShot(0, self._update_countdown)
        return super().event(e)


def _glob_escape(text: str) -> str:
    """An exact-match glob for ``text`` (fnmatch: ``[*]`` matches a literal ``*``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _arg_patterns(tool_input: dict) -> dict[str, str]:
    """Prefill for a rule: each argument matched exactly (the policy compares ``repr`` of non-strings)."""
    out: dict[str, str] = {}
    for k, v in list(tool_input.items())[:20]:
        text = v if isinstance(v, str) else repr(v)
        out[str(k)] = _glob_escape(text[:2000])
    return out


def _esc(s: str) -> str:
    import html

    return html.escape(str(s), quote=False)


def _elided(text: str, limit: int = 160) -> QLabel:
    shown = text if len(text) <= limit else text[:limit] + "…"
    label = QLabel(_esc(shown))
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setToolTip(text[:2000])
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
