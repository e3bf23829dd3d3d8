"""The interim redactor (``airlock._redact``): common credential shapes go, ordinary text stays, linear time."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock._redact import is_secret_key, redact_text, redact_value
from tests.conftest import best_cpu_time

SK = "sk-proj-" + "Ab1" * 10


@pytest.mark.parametrize("text,secret,kind", [
    (f"export OPENAI_API_KEY={SK}", SK, "api-key"),
    (f"use {SK} now", SK, "api-key"),
    ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "aws-key"),
    ("token ghp_" + "x" * 36, "ghp_" + "x" * 36, "github-token"),
    ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij", "slack-token"),
    ("AIza" + "B" * 35, "AIza" + "B" * 35, "google-key"),
    ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl", "bearer"),
    ("curl -H 'authorization: Basic dXNlcjpwYXNz'", "dXNlcjpwYXNz", "basic-auth"),
    ("postgres://admin:hunter22@db.local/app", "hunter22", "password"),
    ("password=hunter2", "hunter2", "secret"),
    ('{"db_password": "s3cr3t pass"}', "s3cr3t pass", "secret"),
    ("mysql --password s3cr3tflag", "s3cr3tflag", "secret"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig_nature", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "jwt"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaA",
     "private-key"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN (cut off)", "MIIEvQIBADAN", "private-key"),
])
def test_redacts(text: str, secret: str, kind: str) -> None:
    out = redact_text(text)
    assert secret not in out and f"[REDACTED:{kind}]" in out


@pytest.mark.parametrize("text", [
    "max_tokens=512", "How do I rotate my password?", "the token bucket algorithm", "sk-short",
    "ls -la /home/user", "https://example.com/path?x=1", "a bearer of bad news", "Basic arithmetic",
])
def test_keeps_ordinary_text(text: str) -> None:
    assert redact_text(text) == text


def test_secret_named_keys() -> None:
    assert is_secret_key("GITHUB_TOKEN") and is_secret_key("x-api-key") and is_secret_key("password")
    assert not is_secret_key("max_tokens") and not is_secret_key("path")
    v = redact_value({"user": "bob", "password": "plain words", "nested": [{"api_key": "zzz"}]})
    assert v == {"user": "bob", "password": "[REDACTED]", "nested": [{"api_key": "[REDACTED]"}]}


@pytest.mark.parametrize("unit", ["a", "password=", "Bearer ", "sk-", "-----BEGIN RSA PRIVATE KEY-----",
                                  "://a:", "--token ", "eyJ", "@", "\"password\":\"", "AKIA"])
def test_linear_time_on_adversarial_input(unit: str) -> None:
    """Long runs of each pattern's anchor: 10x the input must cost about 10x, not 100x."""
    def cost(n: int) -> float:
        s = unit * n
        return best_cpu_time(lambda: redact_text(s))

    for _attempt in range(3):  # a noisy neighbour can spoil one measurement, not three
        small, big = cost(20_000), cost(200_000)
        if big < max(small, 1e-3) * 30:
            break
    assert big < max(small, 1e-3) * 30 and big < 4.0, (small, big)  # quadratic would be ~100x


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_and_returns_str(s: str) -> None:
    out = redact_text(s)
    assert isinstance(out, str)
    assert redact_text(out) == out or "[REDACTED" in out  # idempotent on what it leaves behind
