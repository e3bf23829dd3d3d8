"""The optional C kernel of the scanner's two hottest loops, loaded with ctypes.

``_kernel.c`` computes what ``WindowScorer.best_numpy`` computes (the same buckets, the same
additions in the same order, so the same floats; also the per-position weights behind a finding's
evidence span) in one pass over the text, without the temporary arrays and the 40-odd numpy calls
a text costs: 3-5x faster on short texts, 2-3x on 10 kB. It also folds the leetspeak of ASCII text
(``_leet.unleet``) in one pass. It is built by ``setup.py`` when a C compiler is there; without it
the numpy and regex paths run. A build older than the source (``VERSION``) is not used.
``AIRLOCK_NO_KERNEL=1`` turns it off.

ctypes releases the GIL for the call, so the server's threads score in parallel.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where a model is scored: the leetspeak fold needs none
    import numpy as np

__all__ = ["Kernel", "load", "open_library", "status", "unleet_ascii", "VERSION"]

log = logging.getLogger(__name__)

#: must equal ``airlock_kernel_version()`` in ``_kernel.c``
VERSION = 3
MAX_ORDER = 16
_ENV_OFF = "AIRLOCK_NO_KERNEL"
#: another build of the kernel to load (the tests load one built with AddressSanitizer)
_ENV_LIB = "AIRLOCK_KERNEL_LIB"


class _Best(ctypes.Structure):
    _fields_ = [("z", ctypes.c_double), ("start", ctypes.c_int64), ("end", ctypes.c_int64),
                ("words", ctypes.c_int64), ("windows", ctypes.c_int64)]


_lock = threading.Lock()
_lib: Any = None
_status = "not loaded yet"


def _find() -> Path | None:
    chosen = os.environ.get(_ENV_LIB)
    if chosen:
        return Path(chosen)
    found = sorted(Path(__file__).resolve().parent.glob("_kernel_lib*.bin"))
    return found[0] if found else None


def load() -> Any | None:
    """The loaded library, or None (no build, a stale build, or turned off); tried once."""
    global _lib, _status
    if _lib is not None or _status != "not loaded yet":
        return _lib
    with _lock:
        if _lib is None and _status == "not loaded yet":
            if os.environ.get(_ENV_OFF, "") not in ("", "0"):
                _status = f"off ({_ENV_OFF} is set): numpy scorer"
            else:
                path = _find()
                if path is None:
                    _status = "not built (no C compiler at install time?): numpy scorer"
                else:
                    _lib, _status = open_library(path)
        return _lib


def open_library(path: Path, version: int = VERSION) -> tuple[Any | None, str]:
    """(the library at ``path`` with its signatures set, or None; what happened, in words)."""
    try:
        lib = ctypes.CDLL(str(path))
        lib.airlock_kernel_version.restype = ctypes.c_int
        built = lib.airlock_kernel_version()
        if built != version:
            return None, f"stale build ({path.name} is version {built}, the source {version}): numpy scorer"
        head = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        model = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                 ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64]
        lib.airlock_best.restype = lib.airlock_contrib.restype = ctypes.c_int
        lib.airlock_best.argtypes = head + [ctypes.c_double, ctypes.c_int64] + model + [ctypes.POINTER(_Best)]
        lib.airlock_contrib.argtypes = head + [ctypes.c_int64] + model + [ctypes.c_int64, ctypes.c_int64,
                                                                          ctypes.c_void_p]
        lib.airlock_unleet_ascii.restype = ctypes.c_int64
        lib.airlock_unleet_ascii.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.c_void_p]
    except (OSError, AttributeError) as exc:
        log.warning("scoring kernel %s: %s", path.name, exc)
        return None, f"could not load {path.name} ({exc}): numpy scorer"
    return lib, f"C kernel ({path.name})"


def unleet_ascii(text: str) -> str | None:
    """``_leet.unleet`` of an ASCII ``text`` in C (``text`` itself when nothing changes); None
    without the kernel."""
    lib = load()
    if lib is None:
        return None
    if not text:
        return text
    raw = text.encode("ascii")
    out = bytearray(len(raw))       # (create_string_buffer would build a ctypes type per length)
    if not lib.airlock_unleet_ascii(raw, len(raw), ctypes.addressof(ctypes.c_char.from_buffer(out))):
        return text
    return out.decode("ascii")


def status() -> str:
    """Which scorer runs, in words (for ``airlock doctor`` and the benchmarks)."""
    load()
    return _status


class Kernel:
    """One model's arguments for ``airlock_best``, prepared once (arrays kept alive here)."""

    def __init__(self, lib: Any, weights: np.ndarray, bias: float, bits: int, version: int, window: int,
                 char_orders: list[int], word_orders: list[int], char_salts: list[int], word_salts: list[int],
                 p: int, len_k: int, bigram_k: int) -> None:
        import numpy as np

        self._best, self._contrib = lib.airlock_best, lib.airlock_contrib
        self.w = np.ascontiguousarray(weights, dtype=np.float64)
        self._co = np.array(char_orders, dtype=np.int32)
        self._wo = np.array(word_orders, dtype=np.int32)
        self._cs = np.array(char_salts[:MAX_ORDER], dtype=np.uint64)
        self._ws = np.array(word_salts[:MAX_ORDER], dtype=np.uint64)
        self._bias, self._window = bias, window
        self._head = (self.w.ctypes.data, bits, version)
        self._model = (self._co.ctypes.data, len(self._co), self._wo.ctypes.data, len(self._wo),
                       self._cs.ctypes.data, self._ws.ctypes.data, p, len_k, bigram_k)

    @staticmethod
    def supports(bits: int, char_orders: list[int], word_orders: list[int]) -> bool:
        return 1 <= bits <= 32 and all(1 <= k <= MAX_ORDER for k in char_orders + word_orders)

    def best(self, text: str) -> tuple[float, int, int, int, int] | None:
        """(logit, start, end, words, windows) of the best window; None if the kernel refused."""
        cp = text.encode("utf-32-le", "surrogatepass")
        out = _Best()
        if self._best(cp, len(cp) // 4, *self._head, self._bias, self._window, *self._model, ctypes.byref(out)):
            return None
        return out.z, out.start, out.end, out.words, out.windows

    def contrib(self, text: str, start: int, end: int) -> np.ndarray | None:
        """The summed weight of the n-grams starting at each position of ``[start, end)``."""
        import numpy as np

        cp = text.encode("utf-32-le", "surrogatepass")
        out = np.zeros(max(0, end - start), dtype=np.float64)
        if self._contrib(cp, len(cp) // 4, *self._head, self._window, *self._model, start, end, out.ctypes.data):
            return None
        return out
