"""Prefix-anchored formats of vendor credentials.

Each rule is: the literal prefix(es) a key must contain (a substring prefilter: a rule whose
prefix is absent costs one ``in`` test), a regex whose repeats are single character classes with
an upper bound (so a start position costs at most a constant: the scan is linear), and an
optional validator (checksum, decoded structure, placeholder test) that runs on the candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from . import _checks as C

_AN = "A-Za-z0-9"
_NB = rf"(?<![{_AN}_\-])"          # not preceded by a token character
_NA = rf"(?![{_AN}_\-])"            # not followed by one
_NB_LOOSE = rf"(?<![{_AN}])"


@dataclass(frozen=True)
class Rule:
    kind: str
    name: str
    anchors: tuple[str, ...]
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    confidence: float = 0.95
    group: int = 0


def _r(kind: str, name: str, anchors: tuple[str, ...] | str, rx: str, check: Callable[[str], bool] | None = None,
       confidence: float = 0.95, group: int = 0, flags: int = 0) -> Rule:
    if isinstance(anchors, str):
        anchors = (anchors,)
    return Rule(kind, name, anchors, re.compile(rx, flags), check, confidence, group)


def _not_placeholder(v: str) -> bool:
    return not C.is_placeholder(v)


def _body_after(sep: str, min_len: int = 8) -> Callable[[str], bool]:
    """Validate the part after the vendor prefix: long enough, not a placeholder, not all one class."""
    def check(v: str) -> bool:
        body = v.split(sep, 1)[-1] if sep else v
        return len(body) >= min_len and not C.is_placeholder(body) and C.shannon(body) >= 3.0
    return check


def _github(v: str) -> bool:
    if C.github_crc_ok(v):
        return True
    body = v.split("_", 1)[1]
    return C.is_b62_random(body) and not C.is_placeholder(body) and C.shannon(body) >= 3.5


def _decodes_to(prefix: bytes, strip: str) -> Callable[[str], bool]:
    def check(v: str) -> bool:
        raw = C.b64_decode(v[len(strip):])
        return raw is not None and raw.startswith(prefix)
    return check


def _jsonish_b64(strip: str) -> Callable[[str], bool]:
    """Tokens that wrap base64 JSON (1Password, Grafana, Sentry): the payload must decode to '{"'."""
    def check(v: str) -> bool:
        payload = v[len(strip):].split("_", 1)[0] if strip == "sntrys_" else v[len(strip):]
        raw = C.b64_decode(payload[: len(payload) - len(payload) % 4] if strip == "sntrys_" else payload)
        return raw is not None and raw.startswith(b"{") and "xxxx" not in v.lower()
    return check


def _slack(v: str) -> bool:
    """Bot/user tokens carry numeric team/user ids; config tokens (xoxe) a long base64 tail."""
    parts = v.split("-")
    tail = parts[-1]
    if sum(p.isdigit() and len(p) >= 6 for p in parts) >= 1:
        return not C.is_placeholder(tail, words=True)
    return len(tail) >= 40 and C.is_b62_random(tail) and not C.is_placeholder(tail)


VENDOR_RULES: tuple[Rule, ...] = (
    # AI providers
    _r("anthropic_api_key", "anthropic", "sk-ant-",
       rf"{_NB}sk-ant-(?:api|admin|sid|oat)\d\d-[{_AN}_\-]{{93}}AA{_NA}", None, 0.99),  # exact length + AA
    _r("openai_api_key", "openai-project", ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"),
       rf"{_NB}sk-(?:proj|svcacct|admin|None)-[{_AN}_\-]{{40,250}}{_NA}", _body_after("-", 40), 0.98),
    _r("openai_api_key", "openai-classic", "T3BlbkFJ",
       rf"{_NB}sk-[{_AN}_\-]{{0,120}}T3BlbkFJ[{_AN}_\-]{{10,120}}{_NA}", None, 0.99),
    _r("other_api_token", "sk-generic", "sk-",
       rf"{_NB}sk-[{_AN}]{{32,100}}{_NA}", _body_after("-", 32), 0.8),
    _r("other_api_token", "groq", "gsk_", rf"{_NB}gsk_[{_AN}]{{48,60}}{_NA}", _body_after("_"), 0.95),
    _r("other_api_token", "xai", "xai-", rf"{_NB}xai-[{_AN}]{{70,90}}{_NA}", _body_after("-"), 0.95),
    _r("other_api_token", "perplexity", "pplx-", rf"{_NB}pplx-[{_AN}]{{40,56}}{_NA}", _body_after("-"), 0.95),
    _r("other_api_token", "replicate", "r8_", rf"{_NB}r8_[{_AN}]{{37}}{_NA}", _body_after("_"), 0.9),
    _r("huggingface_token", "huggingface", "hf_", rf"{_NB}hf_[A-Za-z]{{34}}{_NA}", _body_after("_"), 0.95),
    _r("huggingface_token", "huggingface-org", "api_org_", rf"{_NB}api_org_[A-Za-z]{{34}}{_NA}",
       _body_after("api_org_"), 0.95),
    # cloud
    _r("aws_access_key", "aws-access-key", ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
       r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])", _not_placeholder, 0.97),
    _r("aws_access_key", "bedrock-long", "ABSK",
       rf"{_NB}ABSK[A-Za-z0-9+/]{{100,300}}={{0,2}}", _decodes_to(b"BedrockAPIKey-", "ABSK"), 0.97),
    _r("aws_access_key", "bedrock-short", "bedrock-api-key-",
       r"bedrock-api-key-[A-Za-z0-9+/]{20,2000}={0,2}", _decodes_to(b"bedrock.amazonaws.com", "bedrock-api-key-"),
       0.97),
    _r("google_api_key", "google", "AIza", rf"{_NB}AIza[{_AN}_\-]{{35}}{_NA}", _body_after("AIza", 30), 0.95),
    _r("google_api_key", "google-oauth-secret", "GOCSPX-", rf"{_NB}GOCSPX-[{_AN}_\-]{{28}}{_NA}", None, 0.97),
    _r("google_api_key", "google-oauth-token", "ya29.", rf"{_NB}ya29\.[{_AN}_\-]{{30,500}}", _body_after("."), 0.9),
    _r("azure_secret", "azure-ad-client-secret", "Q~",
       r"(?<![A-Za-z0-9_~.\-])[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![A-Za-z0-9_~.\-])",
       lambda v: not C.is_placeholder(v[5:]), 0.95),
    _r("azure_secret", "azure-storage-key", "AccountKey=",
       r"AccountKey=([A-Za-z0-9+/]{86}==)", None, 0.98, group=1),
    _r("azure_secret", "azure-sas-sig", "sig=", r"[?&]sig=([A-Za-z0-9%+/]{40,100}(?:%3D|=){0,2})", None, 0.85, group=1),
    _r("other_api_token", "digitalocean", ("dop_v1_", "doo_v1_", "dor_v1_"),
       rf"{_NB}do[opr]_v1_[a-f0-9]{{64}}{_NA}", None, 0.98),
    _r("other_api_token", "heroku-v2", "HRKU-", rf"{_NB}HRKU-[{_AN}_\-]{{58,64}}", _body_after("-"), 0.95),
    _r("other_api_token", "flyio", ("fo1_", "fm1r_", "fm1a_", "fm2_"),
       rf"{_NB}(?:fo1_[{_AN}_\-]{{43}}|fm[12][ar]?_[{_AN}+/=_\-]{{100,}})", None, 0.95),
    _r("other_api_token", "cloudflare-origin-ca", "v1.0-", rf"{_NB}v1\.0-[a-f0-9]{{24}}-[a-f0-9]{{146}}{_NA}",
       None, 0.97),
    _r("other_api_token", "hashicorp-tf", ".atlasv1.", rf"{_NB}[{_AN}]{{14}}\.atlasv1\.[{_AN}_\-=]{{60,70}}", None,
       0.97),
    _r("other_api_token", "vault", ("hvs.", "hvb.", "hvr."),
       rf"{_NB}hv[sbr]\.[{_AN}_\-]{{24,400}}{_NA}", _body_after(".", 24), 0.95),
    _r("other_api_token", "vault-legacy", ("s.", "b."), r"(?<=[ :=\"'])[sb]\.[A-Za-z0-9]{24}(?![A-Za-z0-9_.\-])",
       lambda v: C.char_classes(v[2:]) >= 3 and not C.is_placeholder(v[2:]), 0.8),
    _r("other_api_token", "databricks", "dapi", rf"{_NB}dapi[a-f0-9]{{32}}(?:-\d)?{_NA}", _body_after("dapi"), 0.95),
    _r("other_api_token", "scalingo", "tk-us-", rf"{_NB}tk-us-[{_AN}_\-]{{48}}{_NA}", None, 0.95),
    _r("other_api_token", "pulumi", "pul-", rf"{_NB}pul-[a-f0-9]{{40}}{_NA}", None, 0.95),
    _r("other_api_token", "doppler", "dp.", rf"{_NB}dp\.(?:pt|st|sa|ct|scim|audit)\.[{_AN}]{{40,44}}{_NA}", None, 0.97),
    _r("other_api_token", "openshift", "sha256~", rf"{_NB}sha256~[{_AN}_\-]{{43}}(?![{_AN}])", None, 0.95),
    # code hosting / CI / registries
    _r("github_token", "github", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
       r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])", _github, 0.97),
    _r("github_token", "github-fine-grained", "github_pat_",
       r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9_])",
       _body_after("github_pat_"), 0.98),
    _r("gitlab_token", "gitlab", ("glpat-", "gloas-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-",
                                  "glimt-", "glagent-", "GR1348941"),
       rf"{_NB}(?:glpat|gloas|gldt|glrt|glptt|glft|glsoat|glimt|glagent|glcbt-[a-f0-9]{{1,5}}_?|GR1348941)"
       rf"-?[{_AN}_\-]{{20,64}}{_NA}", lambda v: not C.is_placeholder(v[-20:]), 0.95),
    _r("other_api_token", "npm", "npm_", rf"{_NB}npm_[{_AN}]{{36}}{_NA}", lambda v: C.is_b62_random(v[4:]), 0.95),
    _r("other_api_token", "pypi", "pypi-AgE", rf"{_NB}pypi-AgE[{_AN}_\-]{{50,400}}", None, 0.98),
    _r("other_api_token", "rubygems", "rubygems_", rf"{_NB}rubygems_[a-f0-9]{{48}}{_NA}", None, 0.97),
    _r("other_api_token", "docker-pat", "dckr_pat_", rf"{_NB}dckr_pat_[{_AN}_\-]{{27}}{_NA}", None, 0.97),
    _r("other_api_token", "sourcegraph", "sgp_",
       rf"{_NB}sgp_(?:[a-fA-F0-9]{{16}}_|local_)?[a-fA-F0-9]{{40}}{_NA}", None, 0.95),
    _r("other_api_token", "sentry", ("sntrys_", "sntryu_"),
       rf"{_NB}(?:sntrys_eyJ[{_AN}+/=]{{60,400}}_[{_AN}+/=]{{43}}|sntryu_[a-f0-9]{{64}})", None, 0.97),
    _r("other_api_token", "grafana", ("glc_", "glsa_"),
       rf"{_NB}(?:glc_[{_AN}+/]{{32,400}}={{0,2}}|glsa_[{_AN}]{{32}}_[A-Fa-f0-9]{{8}})",
       lambda v: _jsonish_b64("glc_")(v) if v.startswith("glc_") else True, 0.95),
    _r("other_api_token", "1password-service", "ops_eyJ", rf"{_NB}ops_eyJ[{_AN}+/]{{250,2000}}={{0,2}}",
       _jsonish_b64("ops_"), 0.97),
    _r("other_api_token", "1password-secret-key", "A3-",
       r"(?<![A-Za-z0-9])A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"
       r"(?![A-Za-z0-9])", None, 0.95),
    _r("other_api_token", "atlassian", "ATATT3", rf"{_NB}ATATT3[{_AN}_\-=]{{186}}{_NA}", None, 0.97),
    _r("other_api_token", "linear", "lin_api_", rf"{_NB}lin_api_[{_AN}]{{40}}{_NA}", None, 0.97),
    _r("other_api_token", "notion", "ntn_", rf"{_NB}ntn_[0-9]{{11}}[{_AN}]{{35}}{_NA}", None, 0.95),
    _r("other_api_token", "postman", "PMAK-", rf"{_NB}PMAK-[a-f0-9]{{24}}-[a-f0-9]{{34}}{_NA}", None, 0.97),
    _r("other_api_token", "newrelic", ("NRAK-", "NRJS-", "NRII-"), rf"{_NB}NR(?:AK|JS|II)-[A-Z0-9]{{19,32}}{_NA}",
       None, 0.95),
    _r("other_api_token", "dynatrace", "dt0c01.", rf"{_NB}dt0c01\.[A-Z0-9]{{24}}\.[A-Z0-9]{{64}}{_NA}", None, 0.97),
    _r("other_api_token", "age-secret-key", "AGE-SECRET-KEY-1", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
       None, 0.99),
    _r("other_api_token", "shopify", ("shpat_", "shpss_", "shpca_", "shppa_"),
       rf"{_NB}shp(?:at|ss|ca|pa)_[a-fA-F0-9]{{32}}{_NA}", None, 0.97),
    _r("other_api_token", "infracost", "ico-", rf"{_NB}ico-[{_AN}]{{32}}{_NA}", lambda v: C.is_b62_random(v[4:]), 0.95),
    _r("other_api_token", "sonarqube", ("squ_", "sqp_", "sqa_"), rf"{_NB}sq[upa]_[{_AN}]{{40}}{_NA}", None, 0.9),
    _r("basic_auth", "bundler-credentials", "BUNDLE_",
       r"(?<![A-Za-z0-9_])BUNDLE_[A-Z0-9_]{1,120}__[A-Z]{2,12}[\"']?[ \t]{0,4}[:=][ \t]{0,4}[\"']?"
       r"([^\s\"':]{1,128}:[^\s\"']{1,128})", lambda v: not C.is_placeholder(v.split(":", 1)[1], seq=False), 0.9,
       group=1),
    _r("other_api_token", "intra42", "s-s4t2", rf"{_NB}s-s4t2(?:ud|af)-[a-f0-9]{{64}}{_NA}", None, 0.97),
    _r("other_api_token", "octopus", "API-", r"(?<![A-Za-z0-9\-])API-[A-Z0-9]{26}(?![A-Za-z0-9])",
       lambda v: C.char_classes(v[4:]) >= 2 and not C.is_placeholder(v[4:]), 0.9),
    _r("other_api_token", "mailchimp", "-us", r"(?<![A-Za-z0-9])[a-f0-9]{32}-us\d{1,2}(?![A-Za-z0-9])",
       _not_placeholder, 0.9),
    _r("other_api_token", "clickhouse", "4b1d", rf"{_NB}4b1d[{_AN}]{{38}}{_NA}", None, 0.9),
    _r("other_api_token", "facebook-page", "EAA", rf"{_NB}EAA[MC][{_AN}]{{100,300}}{_NA}", _body_after("EAA", 100), 0.9),
    _r("other_api_token", "facebook-app-token", "|", r"(?<![0-9])\d{15,16}[|%][0-9a-zA-Z_\-]{27}(?![A-Za-z0-9_\-])",
       None, 0.9),
    _r("other_api_token", "square", ("sq0atp-", "sq0csp-", "EAAA"),
       rf"{_NB}(?:sq0(?:atp|csp)-[{_AN}_\-]{{22,43}}|EAAA[{_AN}_\-+=]{{60}})(?![{_AN}])", None, 0.95),
    _r("other_api_token", "sumologic-id", "su", r"su(?<=[\"' =:]su)[A-Za-z0-9]{12}(?=[\"'\s]|$)",
       lambda v: C.char_classes(v) >= 3, 0.6),
    # messaging / payments / email
    _r("slack_token", "slack", ("xox",),
       rf"{_NB}xox(?:e\.xox[bp]|[abposrce])-[0-9]{{1,16}}-[{_AN}\-]{{8,300}}{_NA}", _slack, 0.96),
    _r("slack_token", "slack-app", "xapp-", rf"{_NB}xapp-\d-[A-Z0-9]{{9,12}}-\d{{10,14}}-[a-f0-9]{{60,70}}{_NA}",
       None, 0.97),
    _r("slack_webhook", "slack-webhook", "hooks.slack.com/",
       r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{30,120}", None, 0.98),
    _r("other_api_token", "discord-webhook", ("discord.com/api/webhooks/", "discordapp.com/api/webhooks/"),
       r"discord(?:app)?\.com/api/webhooks/\d{16,20}/[A-Za-z0-9_\-]{60,70}", None, 0.98),
    _r("other_api_token", "discord-bot", ".", r"[MNO](?<![A-Za-z0-9_\-.][MNO])[A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\."
       r"[A-Za-z0-9_\-]{27,38}(?![A-Za-z0-9_\-.])", lambda v: C.char_classes(v) >= 3 and C.shannon(v) > 4.0, 0.8),
    _r("other_api_token", "telegram-bot", ":AA", r"(?<![0-9])\d{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])",
       None, 0.95),
    _r("stripe_key", "stripe", ("sk_", "rk_", "whsec_"),
       rf"{_NB}(?:[sr]k_(?:live|test|prod)_[{_AN}]{{20,247}}|whsec_[{_AN}]{{32,64}})(?![{_AN}])",
       _body_after("_", 20), 0.97),
    _r("other_api_token", "sendgrid", "SG.", rf"{_NB}SG\.[{_AN}_\-]{{22}}\.[{_AN}_\-]{{43}}{_NA}", None, 0.98),
    _r("other_api_token", "twilio", ("SK", "AC"), r"(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])",
       _body_after("SK", 20), 0.85),
    _r("other_api_token", "mailgun", "key-", rf"{_NB}key-[a-f0-9]{{32}}{_NA}", _body_after("-"), 0.9),
    _r("other_api_token", "clojars", "CLOJARS_", rf"{_NB}CLOJARS_[a-z0-9]{{60}}{_NA}", None, 0.97),
    _r("other_api_token", "okta", "00", r"00(?<=[\"'=: ]00)[A-Za-z0-9_\-]{40}(?=[\"'\s,;]|$)",
       lambda v: C.char_classes(v) >= 3 and C.shannon(v) > 4.0, 0.75),
)
