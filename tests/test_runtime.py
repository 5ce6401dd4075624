"""The worker process's tuning: collector thresholds, and glibc's mmap threshold held fixed."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from streams import runtime


def test_garbage_collector_runs_less_often_with_startup_objects_frozen() -> None:
    before = gc.get_threshold()
    try:
        runtime.tune_garbage_collector()
        assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_an_operators_own_threshold_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert runtime.fix_mmap_threshold() is False


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_a_large_block_freed_leaves_the_next_ones_mapped() -> None:
    # in a fresh process: an 8 MiB block freed would raise glibc's threshold, so the next 2 MiB
    # blocks come from the heap (brk moves) unless the threshold is held
    probe = """
import ctypes, sys
from streams import runtime
held = sys.argv[1] == "held"
if held:
    assert runtime.fix_mmap_threshold()
libc = ctypes.CDLL(None)
libc.sbrk.restype = ctypes.c_void_p
libc.malloc.restype = ctypes.c_void_p
libc.free(ctypes.c_void_p(libc.malloc(8 << 20)))
top = libc.sbrk(0)
blocks = [libc.malloc(2 << 20) for _ in range(4)]
print(libc.sbrk(0) - top)
"""
    env = {"PATH": "/usr/bin:/bin"}
    moved = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", probe, mode],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=Path(runtime.__file__).parents[1],
            ).stdout
        )
        for mode in ("held", "climbing")
    }
    assert moved["climbing"] >= 8 << 20  # the heap took the blocks
    assert moved["held"] < 2 << 20  # each got its own mapping
