"""The redaction engine on hand-built cases: real formats found and masked whole, look-alikes not."""

from __future__ import annotations

import base64
import zlib

import pytest

from airlock.redaction import KNOWN, find_secrets, redact
from airlock.redaction import _checks as C

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _gh_token(body30: str, prefix: str = "ghp_") -> str:
    crc = zlib.crc32((prefix + body30).encode())
    enc = ""
    while crc:
        crc, r = divmod(crc, 62)
        enc = _B62[r] + enc
    return prefix + body30 + enc.rjust(6, "0")


def kinds(text: str) -> list[str]:
    return [f.kind for f in find_secrets(text)]


def covered(text: str, secret: str) -> bool:
    """True when every character of ``secret`` inside ``text`` is masked."""
    i = text.index(secret)
    return any(f.start <= i and f.end >= i + len(secret) for f in find_secrets(text))


@pytest.mark.parametrize("secret", [
    "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG3hJ5kL7nP9rS1tU3wY5" + "T3BlbkFJ" + "x8Yq2Wd9Rf4Kp7Ls",
    "AKIAZ4RVQ7LMX2KPT5NW",
    "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD",
    "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",
    "sk_live_51OuEMLAlTWGaDypq4P5cuDHbuKeG4tAGPYHJpEXQ7zE8mKK3jk",
    "AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-",
    "glpat-Rk3Tz9Qw1Yx7Pm4Ln2Vb",
    "npm_Zk7Qw2Er9Ty4Ui1Op8As3Df6Gh5Jk0Lz2Xc9",
    "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",
])
def test_vendor_keys_are_found_and_fully_masked(secret: str) -> None:
    text = f"config: export X={secret}\n"
    assert covered(text, secret), (secret, find_secrets(text))
    assert secret not in redact(text)


def test_github_token_checksum_raises_confidence() -> None:
    good = _gh_token("Zk7Qw2Er9Ty4Ui1Op8As3Df6Gh5Jk0")
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert C.github_crc_ok(good) and not C.github_crc_ok(bad)
    f = find_secrets(f"token {good}")
    assert f and f[0].kind == "github_token" and f[0].confidence >= 0.95


def test_pem_block_masked_whole_and_empty_block_ignored() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDAC4AWkdwKYSd8\nKs14IReLcYgADhoXk56ZzXI="
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    out = redact(f"key:\n{pem}\ntrailer")
    assert body[:20] not in out and "BEGIN" not in out and out.endswith("trailer")
    assert find_secrets("-----BEGIN OPENSSH PRIVATE KEY----------END OPENSSH PRIVATE KEY-----") == []


def test_truncated_pem_masked_to_end() -> None:
    out = redact("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ")
    assert "MIIE" not in out


def test_jwt_all_three_parts() -> None:
    tok = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
           "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
    text = f"Authorization: Bearer {tok} trailing"
    assert covered(text, tok)


def test_url_credentials_and_curl_user() -> None:
    assert covered("postgres://admin:S3cr3tPw9@db.internal:5432/app", "admin:S3cr3tPw9")
    assert covered("curl -u deploy:qD8vT2mXk9 https://x", "deploy:qD8vT2mXk9")
    assert find_secrets("curl -u <user:password> https://test.com") == []
    assert find_secrets('curl --user "$USER:$PASS" https://x') == []


def test_cli_flag_values() -> None:
    assert covered("mysql --password Hx7pQ2vZ --host db", "Hx7pQ2vZ")
    assert find_secrets("tool --token-file ./t.txt --password-stdin", pii=False) == []


def test_assignments_need_entropy_or_strong_name() -> None:
    assert kinds('DB_PASSWORD=8ae31cacf141669ddfb5da') == ["password"]
    assert kinds('client_secret = "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"') == ["generic_secret"]
    for benign in ('password = "${DB_PASSWORD}"', "token_url = https://auth.example.com/token",
                   'max_tokens = 4096', 'api_key = "<YOUR_KEY>"', "api_key = 'xxxxxxxxxxxxxxxx'",
                   'credentialsId: "ff083f76-7804-4ef1-80e4-fe975bb9141b"', "password: var.db_password",
                   "secret_name = 'NEXUS-GPT4-API-KEY'", 'bucket_key = "SalesResults-1.2"'):
        assert find_secrets(benign, pii=False) == [], benign


@pytest.mark.parametrize("benign", [
    "commit b66ac75e4fa93d86d78fccd6e2f36d2c0698b2a2 build: switch to Go 1.24",
    '"id": "a533b0a0-7acc-4164-ad2c-cb64b3d25aca",',
    "github.com/fsnotify/fsnotify v1.8.0/go.mod h1:8jBTzvmWwFyi3Pb8djgCCO5IBqzKJ/Jwo8TRcHyHii0=",
    '"integrity": "sha512-7Nf1JzY3Zy3X9X7Xt1pP0w5x3Y0u7m5ZQ2m0V0fJ3r3bW6yJ8bQmZpG8xk6m8GkqY3n6m5Q9x5Gx5oVQ=="',
    "version 2.31.0-rc.1 released 2024-05-01",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "img src=data:image/png;base64," + base64.b64encode(bytes(range(256)) * 2).decode()[:300],
])
def test_no_false_alarms(benign: str) -> None:
    assert find_secrets(benign) == [], find_secrets(benign)


def test_cards_luhn_and_issuer() -> None:
    assert kinds("card 4111 1111 1111 1111 exp") == ["credit_card"]
    assert kinds("card 4111 1111 1111 1112") == []           # bad Luhn
    assert kinds("order 1748503543012 shipped") == []        # Luhn-valid by chance, no issuer fits


def test_iban_mod97_and_length() -> None:
    assert kinds("IBAN DE89 3704 0044 0532 0130 00") == ["iban"]
    assert kinds("IBAN DE89 3704 0044 0532 0130 01") == []
    assert kinds("AT61 1904 3002 3457 320") == []            # one digit short for AT


def test_ssn_rules() -> None:
    assert kinds("SSN 078-05-1123") == ["us_ssn"]
    for bad in ("000-12-3456", "666-12-3456", "900-12-3456", "078-00-1123", "078-05-0000"):
        assert "us_ssn" not in kinds(f"SSN {bad}"), bad


def test_email_and_phone() -> None:
    assert kinds("write to jane.doe@corp.io today") == ["email"]
    assert kinds("call me at +44 20 7123 4567") == ["phone_number"]
    assert kinds("build 20240501 finished") == []
    assert kinds("version 1.2.3.4") == []


def test_known_values_redacted_in_plain_and_encoded_forms() -> None:
    value = "plainword-without-format"
    KNOWN.set("T", [value])
    try:
        assert value not in redact(f"x {value} y")
        b64 = base64.b64encode(value.encode()).decode().rstrip("=")
        assert b64 not in redact(f"Authorization: Basic {b64}")
    finally:
        KNOWN.discard("T")
    assert value in redact(f"x {value} y")


def test_redact_never_raises_on_odd_input() -> None:
    for text in ("", "\x00" * 100, "é" * 50, "\ud800 broken surrogate", "=" * 10000, ":" * 5000 + "@"):
        assert isinstance(redact(text), str)
    assert redact(None) is None  # type: ignore[arg-type]
