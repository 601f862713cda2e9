"""A serving worker caps glibc's malloc arenas (mallopt(3) M_ARENA_MAX) before its threads start, unless the
operator's MALLOC_ARENA_MAX decides: each arena keeps the peak its threads reached, and a worker's resident
size is what SPEC §16 bounds with thousands of waiting pages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# Threads allocate and keep small blocks; glibc's malloc_stats(3) then prints one "Arena N:" block per arena.
PROGRAM = textwrap.dedent("""
    import ctypes, ctypes.util, sys, threading
    from idp_bridge.serving import limit_malloc_arenas
    capped = limit_malloc_arenas() if sys.argv[1] == "cap" else None
    kept = []
    ready = threading.Barrier(8)
    def work():
        ready.wait()
        kept.append([bytearray(4096) for _ in range(200)])
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(capped, flush=True)
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
""")


def _arenas(mode: str, **env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    environ.update(env)
    answer = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=60,
                            env=environ)
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.strip(), answer.stderr.count("Arena ")


def test_the_worker_caps_its_malloc_arenas() -> None:
    capped, arenas = _arenas("cap")
    assert capped == "True" and arenas <= 2, arenas
    _none, default = _arenas("leave")
    assert default > 2, default  # the cap is what made the difference


def test_the_operator_s_setting_wins() -> None:
    capped, arenas = _arenas("cap", MALLOC_ARENA_MAX="4")
    assert capped == "False" and 2 < arenas <= 4, arenas
