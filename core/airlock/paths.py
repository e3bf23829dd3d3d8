"""Protected paths: files an agent may never modify, and files whose reading needs a human.

A path is judged twice: as written (normalised, ``~`` expanded, made absolute) and as it
resolves on disk (``realpath``: symlinks and ``..`` followed), so neither a symlink named
``notes.txt`` pointing at ``.env`` nor ``.env`` itself slips through. Names compare without
case: on a case-insensitive file system ``.ENV`` *is* ``.env``, and on others refusing it
costs nothing. Anything that cannot be judged (NUL bytes, absurd length, wrong type) counts
as protected: fail secure.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "is_protected",
    "protection_reason",
    "is_secret_bearing",
    "path_arguments",
    "WRITE_TOOLS",
    "SECRET_READ_TOOLS",
    "DEFAULT_NAME_RULES",
]

MAX_PATH_CHARS = 4096

# (glob over one path component, lower-case) -> why it is protected
DEFAULT_NAME_RULES: tuple[tuple[str, str], ...] = (
    (".env", "environment file (holds secrets)"),
    (".env.*", "environment file (holds secrets)"),
    (".envrc", "direnv file (holds secrets)"),
    ("*.pem", "certificate or private key"),
    ("*.key", "private key"),
    ("*.p12", "key bundle"),
    ("*.pfx", "key bundle"),
    ("id_rsa*", "SSH private key"),
    ("id_ed25519*", "SSH private key"),
    ("id_ecdsa*", "SSH private key"),
    ("id_dsa*", "SSH private key"),
    ("wallet.json", "crypto wallet"),
    (".netrc", "login credentials"),
    (".git-credentials", "git credentials"),
    (".pgpass", "database credentials"),
)
# directory components: anything inside them is protected
DEFAULT_DIR_RULES: tuple[tuple[str, str], ...] = (
    (".git", "git repository metadata"),
    ("node_modules", "installed packages"),
    ("praisonaiagents", "agent framework package"),
    (".ssh", "SSH keys and config"),
    (".gnupg", "GnuPG keys"),
)
# paths under the home directory (relative to it)
HOME_RULES: tuple[tuple[str, str], ...] = (
    (".aws/credentials", "AWS credentials"),
    (".aws/config", "AWS configuration"),
    (".kube/config", "Kubernetes credentials"),
    (".docker/config.json", "Docker registry credentials"),
    (".config/gcloud", "Google Cloud credentials"),
    (".bashrc", "shell start-up file"),
    (".profile", "shell start-up file"),
    (".zshrc", "shell start-up file"),
    (".config/autostart", "programs started at login"),
    (".config/systemd/user", "user services"),
)

_SECRET_REASONS = frozenset({
    "environment file (holds secrets)", "direnv file (holds secrets)", "certificate or private key",
    "private key", "key bundle", "SSH private key", "crypto wallet", "login credentials", "git credentials",
    "database credentials", "SSH keys and config", "GnuPG keys", "AWS credentials", "Kubernetes credentials",
    "Docker registry credentials", "Google Cloud credentials", "Airlock's own files",
})


class _ToolClass:
    """A set of tool names plus verbs: unknown tools named ``save_report`` count as writers too."""

    def __init__(self, names: Iterable[str], verbs: Iterable[str]) -> None:
        self.names = frozenset(names)
        self.verbs = frozenset(verbs)

    def __contains__(self, tool_name: object) -> bool:
        if not isinstance(tool_name, str):
            return False
        if tool_name in self.names:
            return True
        return any(word in self.verbs for word in _words(tool_name))


_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(name: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(_CAMEL.sub("_", name[:200]).lower()) if w]


WRITE_TOOLS = _ToolClass(
    {"write_file", "apply_diff", "copy_file", "move_file", "delete_file", "download_file", "edit_file",
     "create_file", "append_file", "str_replace_editor", "replace_in_file"},
    {"write", "edit", "save", "delete", "remove", "rm", "move", "mv", "rename", "copy", "cp", "create",
     "append", "patch", "apply", "upload", "download", "mkdir", "touch", "chmod", "chown", "replace",
     "insert", "truncate", "unlink", "overwrite"},
)
SECRET_READ_TOOLS = _ToolClass(
    {"read_file", "list_files", "cat", "view_file", "open_file", "get_file"},
    {"read", "cat", "view", "open", "load", "show", "print", "head", "tail", "get"},
)

_PATH_KEYS = frozenset({
    "path", "file", "filename", "file_name", "file_path", "filepath", "src", "source", "source_path",
    "dst", "dest", "destination", "destination_path", "target", "target_path", "output", "output_path",
    "output_file", "out", "directory", "dir", "folder", "new_path", "old_path", "save_path", "to", "from",
    "location", "filepath_or_buffer", "local_path", "files", "paths", "sources", "targets", "filenames",
})
_CONTENT_KEYS = frozenset({"content", "contents", "text", "data", "body", "code", "command", "cmd", "query",
                           "url", "prompt", "message", "pattern", "replacement", "old_str", "new_str"})
_DIFF_KEYS = frozenset({"diff", "patch"})


# ----------------------------------------------------------------------------- judging one path
def _home() -> str:
    return os.path.expanduser("~")


def _airlock_roots() -> tuple[tuple[str, str], ...]:
    env = os.environ
    return _airlock_roots_for(env.get("HOME"), env.get("XDG_CONFIG_HOME"), env.get("XDG_STATE_HOME"),
                              env.get("XDG_DATA_HOME"))


@lru_cache(maxsize=8)
def _airlock_roots_for(*_env: str | None) -> tuple[tuple[str, str], ...]:
    """Airlock's own config, state, data and package directories (resolved; cached per environment)."""
    from . import _dirs

    roots = []
    for label, getter in (("config", _dirs.config_dir), ("state", _dirs.state_dir), ("data", _dirs.data_dir)):
        try:
            roots.append((os.path.realpath(getter()), f"Airlock's own {label} directory"))
        except Exception:  # pragma: no cover - platformdirs failure: the package dir still counts
            pass
    roots.append((os.path.realpath(Path(__file__).parent), "Airlock's own package"))
    return tuple(roots)


def _candidates(path: str, cwd: str | None) -> list[str]:
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        expanded = os.path.join(cwd or os.getcwd(), expanded)
    literal = os.path.normpath(expanded)
    resolved = os.path.realpath(expanded)
    return [literal] if resolved == literal else [literal, resolved]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


# The name globs as one regex: a name none of them matches (almost every name) costs one
# match instead of 15 ``fnmatchcase`` calls; a hit still walks the rules in order for its reason.
_ANY_NAME_RULE = re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern, _ in DEFAULT_NAME_RULES))
# directory name -> reason; built from the end so the first rule for a name wins, as in the loop
_DIR_REASON = {dirname: why for dirname, why in reversed(DEFAULT_DIR_RULES)}


def _judge(abspath: str, extra: tuple[str, ...]) -> str | None:
    lower = abspath.lower()
    parts = [p for p in lower.split("/") if p]
    if parts:
        name = parts[-1]
        if _ANY_NAME_RULE.match(name) is not None:
            for pattern, why in DEFAULT_NAME_RULES:
                if fnmatch.fnmatchcase(name, pattern):
                    return why
        for part in parts:  # the first protected directory along the path, as before
            why_dir = _DIR_REASON.get(part)
            if why_dir is not None:
                return why_dir
    home = _home().lower().rstrip("/")
    if lower.startswith(home + "/"):  # each home rule is a path below ``home``
        for rel, why in HOME_RULES:
            if _under(lower, f"{home}/{rel}"):
                return why
    for root, why in _airlock_roots():
        if _under(abspath, root):
            return why
    for pattern in extra:
        pat = os.path.expanduser(pattern).lower()
        if "/" in pat.rstrip("/"):
            if fnmatch.fnmatchcase(lower, pat) or _under(lower, pat.rstrip("/")):
                return f"protected by your policy ({pattern})"
        elif any(fnmatch.fnmatchcase(p, pat.rstrip("/")) for p in parts):
            return f"protected by your policy ({pattern})"
    return None


class _Unjudgeable:
    def __repr__(self) -> str:
        return "<input too large or too deeply nested to find its paths>"


UNJUDGEABLE = _Unjudgeable()


def protection_reason(path: Any, *, extra_patterns: Iterable[str] = (), cwd: str | None = None) -> str | None:
    """Why ``path`` is protected, or ``None`` when an agent may write it."""
    if path is UNJUDGEABLE:
        return "the input is too large or too deeply nested to check its paths; refused to be safe"
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    if not isinstance(path, str):
        return f"not a path ({type(path).__name__}); refused to be safe"
    if "\x00" in path:
        return "path contains a NUL byte; refused to be safe"
    if len(path) > MAX_PATH_CHARS:
        return f"path longer than {MAX_PATH_CHARS} characters; refused to be safe"
    if not path.strip():
        return None
    extra = tuple(extra_patterns)
    try:
        candidates = _candidates(path, cwd)
    except (OSError, ValueError) as exc:
        return f"path could not be resolved ({exc}); refused to be safe"
    for candidate in candidates:
        why = _judge(candidate, extra)
        if why:
            return why if candidate == candidates[0] else f"{why} (via symlink to {candidate})"
    return None


def is_protected(path: Any, *, extra_patterns: Iterable[str] = (), cwd: str | None = None) -> bool:
    """True when an agent may never write ``path`` (see ``protection_reason``)."""
    return protection_reason(path, extra_patterns=extra_patterns, cwd=cwd) is not None


def is_secret_bearing(path: Any, *, cwd: str | None = None) -> bool:
    """True when reading ``path`` would likely hand secrets to the agent."""
    why = protection_reason(path, cwd=cwd)
    return why is not None and (why.split(" (via symlink")[0] in _SECRET_REASONS or "refused" in why)


# ----------------------------------------------------------------------------- finding paths in input
def _diff_paths(diff: str) -> Iterator[str]:
    for line in diff[:1_000_000].splitlines():
        if line.startswith(("--- ", "+++ ")):
            target = line[4:].split("\t", 1)[0].strip()
            if target in ("/dev/null", ""):
                continue
            if target.startswith(("a/", "b/")):
                target = target[2:]
            yield target
        elif line.startswith("*** ") and any(tag in line for tag in ("Update File:", "Add File:", "Delete File:")):
            yield line.split(":", 1)[1].strip()


def _looks_like_path(value: str) -> bool:
    return (0 < len(value) <= MAX_PATH_CHARS and "\n" not in value and " " not in value.strip()
            and ("/" in value or value.startswith((".", "~")) or "." in value))


def path_arguments(tool_input: Any) -> Iterator[tuple[str, Any]]:
    """(location, path) pairs for every argument of ``tool_input`` that names a file.

    Path-named keys at any depth, the targets of unified diffs, and for positional-looking
    keys (``arg0``...) any value shaped like a path. Non-string values under a path key are
    yielded too, so that ``protection_reason`` refuses them instead of ignoring them.
    """
    stack: list[tuple[str, Any, int]] = [("", tool_input, 0)]
    seen = 0
    while stack:
        location, value, depth = stack.pop()
        seen += 1
        if seen > 10_000 or depth > 32:
            yield (location or "<input>", UNJUDGEABLE)
            return
        if isinstance(value, dict):
            for key, item in value.items():
                key_s = str(key)
                loc = f"{location}.{key_s}" if location else key_s
                low = key_s.lower()
                if low in _PATH_KEYS or low.endswith(("_path", "_file", "_dir", "path", "filename")):
                    if isinstance(item, (list, tuple)):
                        for i, sub in enumerate(item[:1000]):
                            yield (f"{loc}[{i}]", sub)
                    elif isinstance(item, (dict,)):
                        stack.append((loc, item, depth + 1))
                    elif item is not None:
                        yield (loc, item)
                elif low in _DIFF_KEYS and isinstance(item, str):
                    for target in _diff_paths(item):
                        yield (loc, target)
                elif low in _CONTENT_KEYS:
                    continue
                elif isinstance(item, (dict, list, tuple)):
                    stack.append((loc, item, depth + 1))
                elif isinstance(item, str) and re.fullmatch(r"arg\d+|args?|paths?|files?", low) \
                        and _looks_like_path(item):
                    yield (loc, item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value[:10_000]):
                stack.append((f"{location}[{i}]", item, depth + 1))
