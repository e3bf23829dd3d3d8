"""Where Airlock keeps things (XDG via platformdirs), resolved at call time so tests can redirect them."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "airlock"


def config_dir() -> Path:
    """Policy, settings. ``$XDG_CONFIG_HOME/airlock``."""
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def state_dir() -> Path:
    """The audit log and monitoring baselines. ``$XDG_STATE_HOME/airlock``."""
    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def data_dir() -> Path:
    """The encrypted key file fallback. ``$XDG_DATA_HOME/airlock``."""
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def cache_dir() -> Path:
    """Rebuildable things (the audit search index). ``$XDG_CACHE_HOME/airlock``."""
    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def runtime_dir() -> Path:
    """The socket's directory: ``$XDG_RUNTIME_DIR/airlock``, else a private per-uid dir under /tmp."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return Path(base) / APP
    return Path(f"/tmp/airlock-{os.getuid()}")


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700 and refuse one that another user owns or others can write."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def repo_resources_dir() -> Path:
    """``resources/`` of the checkout (editable install) or of the installed data files."""
    here = Path(__file__).resolve()
    candidate = here.parents[2] / "resources"
    if candidate.is_dir():
        return candidate
    import sys

    return Path(sys.prefix) / "share" / "airlock" / "resources"
