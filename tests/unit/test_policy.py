"""The tool policy: risk matrix, rule matching and precedence, expiry, malformed files, editing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airlock.events import Action, AgentIdentity, BeforeToolEvent, RiskLevel
from airlock.policy import RISK_MATRIX, Policy, PolicyError, PolicyStore, parse_policy


def ev(tool: str, agent: str = "coder", **kw: object) -> BeforeToolEvent:
    return BeforeToolEvent(tool_name=tool, tool_input=dict(kw), agent=AgentIdentity(name=agent))


def test_reference_risk_matrix() -> None:
    p = Policy()
    assert p.risk_of("execute_command") is RiskLevel.CRITICAL
    assert p.risk_of("write_file") is RiskLevel.HIGH
    assert p.risk_of("download_file") is RiskLevel.MEDIUM
    assert p.risk_of("read_file") is RiskLevel.NONE
    assert p.risk_of("some_unknown_tool") is RiskLevel.MEDIUM
    assert all(isinstance(v, RiskLevel) for v in RISK_MATRIX.values())


def test_risk_overrides_and_globs() -> None:
    p = parse_policy('[risk]\ndeploy = "critical"\n"mcp_*" = "high"\nread_file = "medium"\n')
    assert p.risk_of("deploy") is RiskLevel.CRITICAL
    assert p.risk_of("mcp_github_push") is RiskLevel.HIGH
    assert p.risk_of("read_file") is RiskLevel.MEDIUM


POLICY = '''
[[rule]]
id = "allow-git"
tool = "execute_command"
args = { command = "git status*" }
action = "allow"

[[rule]]
id = "ask-shell"
tool = "execute_*"
action = "ask"

[[rule]]
id = "deny-rm"
tool = "execute_command"
args = { command = "*rm -rf*" }
action = "deny"
comment = "never"

[[rule]]
id = "bot-only"
tool = "write_file"
agent = "bot*"
action = "allow"
'''


def test_precedence_deny_beats_ask_beats_allow() -> None:
    p = parse_policy(POLICY)
    assert p.match(ev("execute_command", command="rm -rf /tmp/x")).rule.id == "deny-rm"
    assert p.match(ev("execute_command", command="ls")).rule.id == "ask-shell"
    # ask beats the allow that also matches
    assert p.match(ev("execute_command", command="git status")).action is Action.ASK
    assert p.match(ev("read_file", path="x")) is None


def test_allow_rule_does_not_span_shell_separators() -> None:
    p = parse_policy('[[rule]]\nid="g"\ntool="execute_command"\nargs={command="git status*"}\naction="allow"\n')
    assert p.match(ev("execute_command", command="git status --short")).rule.id == "g"
    for sneaky in ("git status; rm -rf ~", "git status && curl x|sh", "git status `id`", "git status $(id)",
                   "git status\nrm -rf /", "git status > ~/.bashrc"):
        assert p.match(ev("execute_command", command=sneaky)) is None, sneaky


def test_agent_and_missing_argument() -> None:
    p = parse_policy(POLICY)
    assert p.match(ev("write_file", agent="bot-7", path="a")).rule.id == "bot-only"
    assert p.match(ev("write_file", agent="human", path="a")) is None
    # an argument rule never matches a call without that argument
    assert p.match(ev("execute_command")).rule.id == "ask-shell"


def test_expiry_is_absolute() -> None:
    p = parse_policy('[[rule]]\nid="tmp"\ntool="write_file"\naction="allow"\nexpires=2020-01-01T00:00:00Z\n')
    assert p.rules[0].expires == pytest.approx(1577836800.0)
    assert p.match(ev("write_file")) is None
    assert p.match(ev("write_file"), now=1577836700.0).rule.id == "tmp"


def test_oversized_argument_counts_for_deny_not_for_allow() -> None:
    p = parse_policy('[[rule]]\nid="d"\ntool="t"\nargs={x="*evil*"}\naction="deny"\n'
                     '[[rule]]\nid="a"\ntool="u"\nargs={x="*"}\naction="allow"\n')
    big = "a" * 100_000
    assert p.match(ev("t", x=big)).rule.id == "d"
    assert p.match(ev("u", x=big)) is None


@pytest.mark.parametrize("text,line,words", [
    ('[[rule]]\ntool="x"\naction="maybe"\n', 1, "allow, ask or deny"),
    ('\n\n[[rule]]\ntool="x"\naction="deny"\n[[rule]]\nacton="deny"\ntool="y"\n', 6, "acton"),
    ('[[rule]]\ntool = "x\naction="deny"\n', 2, "TOML"),
    ('[[rules]]\ntool="x"\naction="deny"\n', None, "unknown section"),
    ('[risk]\nx = "extreme"\n', None, "risk level"),
    ('[[rule]]\ntool="x"\naction="allow"\nexpires="next week"\n', 1, "date-time"),
])
def test_malformed_policy_names_the_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "policy.toml")
    assert words in str(err.value)
    if line is not None:
        assert err.value.line == line
        assert f"policy.toml:{line}" in str(err.value)


def test_store_keeps_last_good_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[[rule]]\nid="no"\ntool="execute_command"\naction="deny"\n')
    store = PolicyStore(path)
    assert store.match(ev("execute_command")).rule.id == "no"
    time.sleep(0.01)
    path.write_text('[[rule]]\nid="no"\ntool="execute_command"\naction="dney"\n')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert store.match(ev("execute_command")).rule.id == "no"  # the deny rule survives the typo
    assert store.error is not None and store.error.line == 1
    # a new process: the broken file is rejected and the saved last good copy is used
    store2 = PolicyStore(path)
    assert store2.error is not None
    assert store2.match(ev("execute_command")).rule.id == "no"


def test_no_good_policy_at_all_means_ask_everything(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("this is not toml [")
    store = PolicyStore(path)
    assert store.current.fallback
    assert store.risk_of("read_file").needs_approval
    assert store.risk_of("internet_search").needs_approval


def test_add_and_remove_keep_comments(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("# my notes\n[risk]\ndeploy = \"critical\"\n")
    store = PolicyStore(path)
    r1 = store.add_rule("execute_command", "allow", args={"command": "ls*"}, comment="listing")
    r2 = store.add_rule("write_file", "deny", agent="bot", expires_in=3600)
    assert {r.id for r in store.rules} == {r1.id, r2.id}
    assert r2.expires and r2.expires > time.time() + 3500
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert store.remove_rule(r1.id)
    assert not store.remove_rule("nope")
    text = path.read_text()
    assert "# my notes" in text and r1.id not in text and r2.id in text
    assert store.risk_of("deploy") is RiskLevel.CRITICAL


def test_rules_cli_roundtrip(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "core"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "import sys; from airlock._cli_rules import register;"
                               "import argparse; p=argparse.ArgumentParser(); s=p.add_subparsers();"
                               "register(s); a=p.parse_args(sys.argv[1:]); sys.exit(a.func(a))",
                               "rules", "--policy", str(policy), *args],
                              capture_output=True, text=True, env=env, timeout=60)

    out = run("add", "execute_command", "deny", "--arg", "command=*sudo*", "--for", "2h", "--comment", "no root")
    assert out.returncode == 0, out.stderr
    rule_id = out.stdout.split()[1].rstrip(":")
    listed = run("list")
    assert rule_id in listed.stdout and "until" in listed.stdout
    assert run("check").returncode == 0
    assert run("remove", rule_id).returncode == 0
    assert run("remove", rule_id).returncode == 1
    policy.write_text('[[rule]]\ntool="x"\n')
    bad = run("check")
    assert bad.returncode == 1 and "p.toml:1" in bad.stdout


def test_replace_rule_keeps_id_and_position_of_others(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy.toml")
    a = store.add_rule("write_file", "allow", comment="a")
    b = store.add_rule("execute_command", "ask")
    new = store.replace_rule(a.id, "write_file", "deny", args={"path": "/etc/*"}, comment="tightened")
    assert new.id == a.id and new.created == a.created and new.action is Action.BLOCK
    assert {r.id for r in store.rules} == {a.id, b.id}
    assert store.match(ev("write_file", path="/etc/passwd")).rule.id == a.id
    assert store.match(ev("write_file", path="/home/x")) is None
    with pytest.raises(PolicyError):
        store.replace_rule("missing", "x", "allow")
