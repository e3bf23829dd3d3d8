"""The C kernel under AddressSanitizer and UndefinedBehaviorSanitizer: random and edge-case texts
(empty, one char, window edges, NULs, the highest code point, lone surrogates, runs, 1 MB) under
several model layouts must neither touch memory they do not own nor hit undefined behaviour, and
must still equal the numpy scorer. The kernel reads untrusted text in the server's process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import airlock.injection

KERNEL_C = Path(airlock.injection.__file__).parent / "_kernel.c"

FUZZ = r"""
import random, sys
import numpy as np
from airlock.injection import _kernel
from airlock.injection._scoring import WindowScorer
from airlock.injection._features import FeatureSpec
assert _kernel.status().startswith("C kernel"), _kernel.status()
rnd = random.Random(int(sys.argv[1]))
specs = [(FeatureSpec(), 256), (FeatureSpec(bits=12, char_ngrams=(1, 2, 3), word_ngrams=(1,)), 64),
         (FeatureSpec(bits=10, char_ngrams=(16,), word_ngrams=(16,)), 64),
         (FeatureSpec(bits=10, char_ngrams=(), word_ngrams=()), 64),
         (FeatureSpec(bits=14, char_ngrams=(2, 4), word_ngrams=(1, 3), version=1), 101)]
pairs = []
for spec, win in specs:
    w = np.random.default_rng(1).normal(size=spec.dim).astype(np.float32)
    pairs.append((WindowScorer(w, 0.1, spec, win), WindowScorer(w, 0.1, spec, win, kernel=False)))
alph = ["a", "b", "0", "1", " ", "\n", "_", "A", "\u00e9", "\U0010ffff", "\ud800", "\x00", "aaaa", "x" * 20]
for it in range(int(sys.argv[2])):
    n = rnd.choice([0, 1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 100, 101, 102, 255, 256, 257, 513, 2000])
    t = "".join(rnd.choice(alph) for _ in range(n))
    for k, ref in pairs:
        a, b = k.best(t), ref.best(t)
        assert (a.z, a.start, a.end, a.words, a.windows) == (b.z, b.start, b.end, b.words, b.windows), t
        assert np.array_equal(a.contrib(), b.contrib()), t
    if t.isascii():
        assert _kernel.unleet_ascii(t) is not None
big = "ab1 " * 250_000
for k, _ in pairs[:2]:
    k.best(big).contrib()
assert _kernel.unleet_ascii(big) is not None
print("checked", int(sys.argv[2]) * len(pairs))
"""


@pytest.mark.slow
def test_the_kernel_is_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc, "the README's setup installs gcc"
    lib = tmp_path / "kernel_asan.bin"
    subprocess.run([gcc, "-O1", "-g", "-std=c99", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                    "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o", str(lib), str(KERNEL_C), "-lm"], check=True)
    runtimes = [subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True, check=True)
                .stdout.strip() for name in ("libasan.so", "libubsan.so")]
    assert all(Path(r).exists() for r in runtimes), runtimes
    env = {**os.environ, "AIRLOCK_KERNEL_LIB": str(lib), "LD_PRELOAD": " ".join(runtimes),
           "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
    env.pop("AIRLOCK_NO_KERNEL", None)
    out = subprocess.run([sys.executable, "-c", FUZZ, "11", "400"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "checked 2000" in out.stdout
    assert "ERROR: AddressSanitizer" not in out.stderr and "runtime error" not in out.stderr
