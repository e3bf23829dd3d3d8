"""The tool policy: the reference's risk matrix plus the user's rules from a TOML file.

Rules say allow / ask / deny for a tool-name glob, optionally narrowed by argument globs and
an agent name, optionally until an absolute expiry. Precedence is deny > ask > allow; the
rule that decided is reported. The file lives at ``$XDG_CONFIG_HOME/airlock/policy.toml``::

    [risk]                       # raise or lower a tool's risk (none/low/medium/high/critical)
    my_deploy_tool = "critical"

    [paths]
    protected = ["~/work/secrets", "*.sqlite"]   # added to the built-in protected paths

    [[rule]]
    id = "r-3f9a1c"
    tool = "execute_command"
    args = { command = "git status*" }
    action = "allow"
    agent = "coder"              # optional
    expires = 2026-12-01T00:00:00Z   # optional
    comment = "read-only git is fine"

A malformed file never opens a door: the error names the line, and the store keeps the last
good policy (also across restarts, from a copy in the state dir). With no good policy at all,
every tool needs approval until the file is fixed.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import fnmatch
import logging
import os
import re
import secrets
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _dirs
from ._atomic import write_private
from .events import Action, BeforeToolEvent, RiskLevel

__all__ = [
    "RISK_MATRIX",
    "Rule",
    "RuleMatch",
    "Policy",
    "PolicyError",
    "PolicyStore",
    "parse_policy",
    "load_policy",
    "default_path",
]

log = logging.getLogger(__name__)

RISK_MATRIX: Mapping[str, RiskLevel] = {
    "execute_command": RiskLevel.CRITICAL,
    "kill_process": RiskLevel.CRITICAL,
    "execute_code": RiskLevel.CRITICAL,
    "write_file": RiskLevel.HIGH,
    "copy_file": RiskLevel.HIGH,
    "move_file": RiskLevel.HIGH,
    "delete_file": RiskLevel.HIGH,
    "download_file": RiskLevel.MEDIUM,
    "read_file": RiskLevel.NONE,
    "list_files": RiskLevel.NONE,
    "internet_search": RiskLevel.NONE,
    "scrape_page": RiskLevel.NONE,
    "crawl": RiskLevel.NONE,
}
UNKNOWN_TOOL_RISK = RiskLevel.MEDIUM
# an argument longer than this is not glob-matched: deny rules count it as a match, allow rules not
MAX_MATCH_CHARS = 65_536
_RULE_KEYS = frozenset({"id", "tool", "action", "args", "agent", "expires", "comment", "created"})
_TOP_KEYS = frozenset({"risk", "paths", "rule", "limits"})
_PRECEDENCE = {Action.BLOCK: 0, Action.ASK: 1, Action.ALLOW: 2}
# An allow rule's "*" never spans these: "git status*" must not allow "git status; rm -rf ~".
_SHELL_META = frozenset(";&|`$<>\n\r")


class PolicyError(ValueError):
    """A policy file that cannot be used. ``line`` is 1-based when known."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        where = source + (f":{line}" if line else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.line = line
        self.source = source


def _glob(pattern: str, value: str, *, oversize_matches: bool) -> bool:
    if len(value) > MAX_MATCH_CHARS:
        return oversize_matches
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


@dataclass(frozen=True, slots=True)
class Rule:
    """One user rule. ``expires``/``created`` are absolute UNIX times."""

    id: str
    tool: str
    action: Action
    args: tuple[tuple[str, str], ...] = ()
    agent: str | None = None
    expires: float | None = None
    comment: str = ""
    created: float | None = None
    line: int | None = field(default=None, compare=False)

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def matches(self, event: BeforeToolEvent, now: float) -> bool:
        if self.expired(now):
            return False
        deny = self.action is Action.BLOCK
        if not _glob(self.tool, event.tool_name, oversize_matches=deny):
            return False
        if self.agent is not None and not _glob(self.agent, event.agent.name, oversize_matches=deny):
            return False
        tool_input = event.tool_input if isinstance(event.tool_input, dict) else {}
        for name, pattern in self.args:
            if name not in tool_input:
                return False
            value = tool_input[name]
            text = value if isinstance(value, str) else repr(value)
            if not _glob(pattern, text, oversize_matches=deny):
                return False
            if self.action is Action.ALLOW and (_SHELL_META & set(text)) - set(pattern):
                return False
        return True

    def describe(self) -> str:
        parts = [f"{self.action.value} {self.tool}"]
        if self.args:
            parts.append("where " + ", ".join(f"{k} ~ {v!r}" for k, v in self.args))
        if self.agent:
            parts.append(f"for agent {self.agent}")
        if self.expires is not None:
            parts.append("until " + _iso(self.expires))
        return " ".join(parts)

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "tool": self.tool, "action": _action_word(self.action)}
        if self.agent is not None:
            out["agent"] = self.agent
        if self.expires is not None:
            out["expires"] = _dt.datetime.fromtimestamp(self.expires, _dt.timezone.utc).replace(microsecond=0)
        if self.created is not None:
            out["created"] = _dt.datetime.fromtimestamp(self.created, _dt.timezone.utc).replace(microsecond=0)
        if self.comment:
            out["comment"] = self.comment
        if self.args:
            out["args"] = dict(self.args)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tool": self.tool, "action": _action_word(self.action), "args": dict(self.args),
                "agent": self.agent, "expires": _iso(self.expires) if self.expires is not None else None,
                "comment": self.comment, "created": _iso(self.created) if self.created is not None else None,
                "line": self.line}


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: Rule
    action: Action


@dataclass(frozen=True)
class Policy:
    """An immutable, validated policy. ``fallback`` marks the ask-everything policy used when none loads."""

    rules: tuple[Rule, ...] = ()
    risk: Mapping[str, RiskLevel] = field(default_factory=dict)
    protected_paths: tuple[str, ...] = ()
    source: str = "<defaults>"
    fallback: bool = False
    limits: Mapping[str, Any] = field(default_factory=dict)  # [limits]: per_agent, per_tool, tools = {name: "n/min"}

    def risk_of(self, tool_name: str) -> RiskLevel:
        if self.fallback:
            return max(RISK_MATRIX.get(tool_name, UNKNOWN_TOOL_RISK), RiskLevel.HIGH)
        if tool_name in self.risk:
            return self.risk[tool_name]
        for pattern, level in self.risk.items():
            if any(c in pattern for c in "*?[") and _glob(pattern, tool_name, oversize_matches=False):
                return level
        return RISK_MATRIX.get(tool_name, UNKNOWN_TOOL_RISK)

    def match(self, event: BeforeToolEvent, now: float | None = None) -> RuleMatch | None:
        """The deciding rule: deny beats ask beats allow; the first in the file wins a tie."""
        now = time.time() if now is None else now
        best: Rule | None = None
        for rule in self.rules:
            if rule.matches(event, now) and (best is None or _PRECEDENCE[rule.action] < _PRECEDENCE[best.action]):
                best = rule
                if best.action is Action.BLOCK:
                    break
        return None if best is None else RuleMatch(best, best.action)


# ----------------------------------------------------------------------------- parsing
def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _action_word(action: Action) -> str:
    return "deny" if action is Action.BLOCK else action.value


def _timestamp(value: Any, what: str, source: str, line: int | None) -> float:
    if isinstance(value, _dt.datetime):
        return value.timestamp()  # a datetime without offset is local time
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise PolicyError(f"{what} must be a date-time such as 2026-12-01T00:00:00Z, not {value!r}",
                      source=source, line=line)


def _rule_lines(text: str) -> list[int]:
    """1-based line of each ``[[rule]]`` header, in order (tomllib reports no positions)."""
    return [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]


def _parse_rule(raw: Any, index: int, line: int | None, source: str) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError("each [[rule]] must be a table", source=source, line=line)
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"unknown key(s) in rule: {', '.join(sorted(unknown))} "
                          f"(allowed: {', '.join(sorted(_RULE_KEYS))})", source=source, line=line)
    tool = raw.get("tool")
    if not isinstance(tool, str) or not tool.strip():
        raise PolicyError("rule needs tool = \"<tool name or glob>\"", source=source, line=line)
    try:
        action = Action.parse(raw.get("action"))
    except (ValueError, TypeError, AttributeError):
        raise PolicyError(f"rule action must be allow, ask or deny, not {raw.get('action')!r}",
                          source=source, line=line) from None
    args_raw = raw.get("args", {})
    if not isinstance(args_raw, dict) or not all(isinstance(v, str) for v in args_raw.values()):
        raise PolicyError("rule args must be a table of argument = \"glob\"", source=source, line=line)
    agent = raw.get("agent")
    if agent is not None and not isinstance(agent, str):
        raise PolicyError("rule agent must be a string", source=source, line=line)
    comment = raw.get("comment", "")
    if not isinstance(comment, str):
        raise PolicyError("rule comment must be a string", source=source, line=line)
    rule_id = raw.get("id", f"line{line}" if line else f"rule{index + 1}")
    if not isinstance(rule_id, str) or not rule_id:
        raise PolicyError("rule id must be a non-empty string", source=source, line=line)
    expires = _timestamp(raw["expires"], "expires", source, line) if "expires" in raw else None
    created = _timestamp(raw["created"], "created", source, line) if "created" in raw else None
    return Rule(rule_id, tool.strip(), action, tuple(sorted(args_raw.items())), agent, expires, comment,
                created, line)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate a policy document; raise ``PolicyError`` naming the line of the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise PolicyError(f"not valid TOML: {exc}", source=source, line=int(m.group(1)) if m else None) from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"unknown section(s): {', '.join(sorted(unknown))} "
                          "(allowed: [risk], [paths], [limits], [[rule]])", source=source)
    risk: dict[str, RiskLevel] = {}
    risk_raw = data.get("risk", {})
    if not isinstance(risk_raw, dict):
        raise PolicyError("[risk] must be a table of tool = \"level\"", source=source)
    for tool, level in risk_raw.items():
        try:
            parsed = RiskLevel.parse(level)
        except (ValueError, TypeError):
            parsed = None
        if parsed is None:
            raise PolicyError(f"[risk] {tool}: not a risk level: {level!r} (none, low, medium, high, critical)",
                              source=source)
        risk[tool] = parsed
    paths_raw = data.get("paths", {})
    protected = paths_raw.get("protected", []) if isinstance(paths_raw, dict) else None
    if not isinstance(protected, list) or not all(isinstance(p, str) for p in protected):
        raise PolicyError("[paths] protected must be a list of strings", source=source)
    limits = _parse_limits(data.get("limits", {}), source)
    rules_raw = data.get("rule", [])
    if not isinstance(rules_raw, list):
        raise PolicyError("rules are written as [[rule]] tables", source=source)
    lines = _rule_lines(text)
    rules = []
    for i, raw in enumerate(rules_raw):
        rules.append(_parse_rule(raw, i, lines[i] if i < len(lines) else None, source))
    ids = [r.id for r in rules]
    dup = {x for x in ids if ids.count(x) > 1} if len(ids) < 2000 else set()
    if dup:
        raise PolicyError(f"duplicate rule id(s): {', '.join(sorted(dup))}", source=source)
    return Policy(tuple(rules), risk, tuple(protected), source, limits=limits)


def _parse_limits(raw: Any, source: str) -> dict[str, Any]:
    from .monitor.ratelimit import parse_limit

    if not isinstance(raw, dict) or set(raw) - {"per_agent", "per_tool", "tools"}:
        raise PolicyError("[limits] takes per_agent = \"600/min\", per_tool = \"300/min\" and "
                          "tools = { tool = \"60/min\" }", source=source)
    out: dict[str, Any] = {}
    try:
        for key in ("per_agent", "per_tool"):
            if key in raw:
                out[key] = parse_limit(raw[key])
        tools = raw.get("tools", {})
        if not isinstance(tools, dict):
            raise ValueError("[limits] tools must be a table")
        out["tools"] = {str(k): parse_limit(v) for k, v in tools.items()}
    except ValueError as exc:
        raise PolicyError(f"[limits]: {exc}", source=source) from None
    return out


def default_path() -> Path:
    return _dirs.config_dir() / "policy.toml"


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Parse the policy file; a missing file is the built-in defaults."""
    p = Path(path) if path is not None else default_path()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return Policy(source=str(p))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError("not UTF-8 text", source=str(p), line=line) from None
    return parse_policy(text, str(p))


# ----------------------------------------------------------------------------- the live store
class PolicyStore:
    """The policy file, reloaded when it changes; edits by ``add_rule``/``remove_rule`` are atomic."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.error: PolicyError | None = None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._policy = self._initial()

    # ---------------------------------------------------------------- reading
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _last_good_path(self) -> Path:
        import hashlib

        tag = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        return _dirs.state_dir() / f"policy.last-good.{tag}.toml"

    def _initial(self) -> Policy:
        self._stamp = self._stat()
        try:
            policy = load_policy(self.path)
            self._save_last_good()
            return policy
        except (PolicyError, OSError) as exc:
            self.error = exc if isinstance(exc, PolicyError) else PolicyError(str(exc), source=str(self.path))
            log.error("policy not loaded: %s", self.error)
        try:
            if not self._last_good_path().is_file():
                raise FileNotFoundError(self._last_good_path())
            policy = load_policy(self._last_good_path())
            log.warning("using the last good policy until %s is fixed", self.path)
            return policy
        except (PolicyError, OSError):
            log.warning("no usable policy: every tool needs approval until %s is fixed", self.path)
            return Policy(source=str(self.path), fallback=True)

    def _save_last_good(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        try:
            target = self._last_good_path()
            if not target.exists() or target.read_bytes() != data:
                _dirs.ensure_private_dir(target.parent)
                _atomic_write(target, data)
        except OSError as exc:  # only a convenience copy
            log.debug("could not keep a copy of the policy: %s", exc)

    @property
    def current(self) -> Policy:
        """The policy now in force (one ``stat`` per call; re-parsed only when the file changed)."""
        stamp = self._stat()
        if stamp != self._stamp:
            self.reload()
        return self._policy

    def reload(self) -> Policy:
        with self._lock:
            self._stamp = self._stat()
            try:
                self._policy = load_policy(self.path)
                self.error = None
                self._save_last_good()
            except (PolicyError, OSError) as exc:
                self.error = exc if isinstance(exc, PolicyError) else PolicyError(str(exc), source=str(self.path))
                log.error("policy change rejected, keeping the last good policy: %s", self.error)
            return self._policy

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.current.rules

    @property
    def protected_paths(self) -> tuple[str, ...]:
        return self.current.protected_paths

    def risk_of(self, tool_name: str) -> RiskLevel:
        return self.current.risk_of(tool_name)

    def match(self, event: BeforeToolEvent) -> RuleMatch | None:
        return self.current.match(event)

    # ---------------------------------------------------------------- editing
    def add_rule(self, tool: str, action: Action | str, *, args: Mapping[str, str] | None = None,
                 agent: str | None = None, expires_at: float | None = None, expires_in: float | None = None,
                 comment: str = "") -> Rule:
        """Append a rule to the file (comments and layout above it are kept) and return it."""
        import tomli_w

        if expires_in is not None:
            expires_at = time.time() + float(expires_in)
        rule = Rule("r-" + secrets.token_hex(3), tool, Action.parse(action), tuple(sorted((args or {}).items())),
                    agent, expires_at, comment, float(int(time.time())))
        block = "\n" + tomli_w.dumps({"rule": [rule.to_toml()]})

        def edit(text: str) -> str:
            if not text:
                text = _template()
            return text.rstrip("\n") + "\n" + block

        self._edit(edit)
        return next(r for r in self._policy.rules if r.id == rule.id)

    def replace_rule(self, rule_id: str, tool: str, action: Action | str, *,
                     args: Mapping[str, str] | None = None, agent: str | None = None,
                     expires_at: float | None = None, expires_in: float | None = None, comment: str = "") -> Rule:
        """Edit a rule in place (same id), in one atomic write: it is never briefly absent."""
        import tomli_w

        if expires_in is not None:
            expires_at = time.time() + float(expires_in)
        old = next((r for r in self.current.rules if r.id == rule_id), None)
        if old is None:
            raise PolicyError(f"no rule with id {rule_id!r}", source=str(self.path))
        rule = Rule(rule_id, tool, Action.parse(action), tuple(sorted((args or {}).items())), agent, expires_at,
                    comment, old.created if old.created is not None else float(int(time.time())))
        block = "\n" + tomli_w.dumps({"rule": [rule.to_toml()]})

        def edit(text: str) -> str:
            cut = self._without(text, rule_id)
            if cut is None:
                raise PolicyError(f"no rule with id {rule_id!r}", source=str(self.path))
            return cut.rstrip("\n") + "\n" + block

        self._edit(edit)
        return next(r for r in self._policy.rules if r.id == rule_id)

    def remove_rule(self, rule_id: str) -> bool:
        """Delete the rule with this id from the file. False when there is none."""
        removed = False

        def edit(text: str) -> str:
            nonlocal removed
            cut = self._without(text, rule_id)
            if cut is None:
                return text
            removed = True
            return cut

        self._edit(edit)
        return removed

    def _without(self, text: str, rule_id: str) -> str | None:
        """The file text without the ``[[rule]]`` block of ``rule_id`` (None when there is none)."""
        policy = parse_policy(text, str(self.path))
        target = next((r for r in policy.rules if r.id == rule_id), None)
        if target is None or target.line is None:
            return None
        lines = text.splitlines(keepends=True)
        start = target.line - 1
        end = start + 1
        while end < len(lines):
            stripped = lines[end].lstrip()
            if stripped.startswith("[") and not re.match(r"\[\s*rule\s*\.", stripped):
                break
            end += 1
        # keep comment lines that introduce the next block
        while end - 1 > start and lines[end - 1].lstrip().startswith("#"):
            end -= 1
        return "".join(lines[:start] + lines[end:])

    def _edit(self, fn: Any) -> None:
        _dirs.ensure_private_dir(self.path.parent)
        lock_path = self.path.with_name("." + self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                text = self.path.read_text("utf-8") if self.path.exists() else ""
                if text:
                    parse_policy(text, str(self.path))  # never build on a broken file
                new = fn(text)
                if new == text:
                    return
                parse_policy(new, str(self.path))
                _atomic_write(self.path, new.encode("utf-8"))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self.reload()
        if self.error is not None:
            raise self.error


def _atomic_write(path: Path, data: bytes) -> None:
    write_private(path, data)


def _template() -> str:
    """The commented starter file from ``resources/default-policy.toml`` (or a one-line header)."""
    try:
        return (_dirs.repo_resources_dir() / "default-policy.toml").read_text("utf-8")
    except (OSError, TypeError, AttributeError):
        return "# Airlock policy: see `airlock rules --help`.\n"
