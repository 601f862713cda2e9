"""Shared set-up for the benchmarks: a fresh database, the simulator, and `idp-bridge serve` started for real.

Benchmarks measure; they assert nothing. Run them from the repository root with the project's venv, e.g.
``.venv/bin/python -m bench.sso_login``.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests
from sqlalchemy import create_engine, text

from idp_bridge.simulator.state import SimAccount
from idp_bridge.simulator.views import create_simulator_app
from tests.support.live import LiveServer

CLI = str(Path(sys.executable).with_name("idp-bridge"))
PG_ADMIN = os.environ.get("IDPB_BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET_KEY = "bench-secret-key-" + "b" * 32
APP_ID, APP_SECRET, TOKEN = "wx0123456789abcdef", "0123456789abcdef0123456789abcdef", "Token123"
AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"{name}: n={len(ms)} p50={percentile(ms, 50):.1f} ms p99={percentile(ms, 99):.1f} ms "
            f"mean={statistics.mean(ms):.1f} ms max={max(ms):.1f} ms")


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    name = "idp_bench_" + secrets.token_hex(4)
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bridge:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    simulator: LiveServer

    def cli(self, *args: str) -> dict[str, object]:
        out = subprocess.run([CLI, *args, "--json"], env=self.env, capture_output=True, text=True, check=True)
        return dict(json.loads(out.stdout))


@contextmanager
def bridge(database_url: str, workers: int, threads: int = 64, redis_url: str | None = None,
           extra_env: dict[str, str] | None = None) -> Iterator[Bridge]:
    """`idp-bridge serve` on a fresh database with a connection wired to a standalone simulator."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the simulator's access log is noise here
    port = free_port()
    simulator = LiveServer()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_BRIDGE_")}
        env.update(IDP_BRIDGE_DATABASE_URL=database_url, IDP_BRIDGE_INSTANCE_DIR=tmp,
                   IDP_BRIDGE_ISSUER=f"http://127.0.0.1:{port}", IDP_BRIDGE_SECRET_KEY=SECRET_KEY,
                   IDP_BRIDGE_WECHAT_API_BASE=simulator.url,
                   # every simulated visitor comes from 127.0.0.1: per-address caps would measure only the caps
                   IDP_BRIDGE_QR_PER_IP_PER_MINUTE="100000", IDP_BRIDGE_STREAMS_PER_IP="10000")
        if redis_url:
            env["IDP_BRIDGE_REDIS_URL"] = redis_url
        env.update(extra_env or {})
        subprocess.run([CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        # BENCH_SERVE_LOG=<file> keeps the server's log (its access log has each request's duration)
        log_path = os.environ.get("BENCH_SERVE_LOG")
        server_log: IO[bytes] | int = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen([CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                                    "--threads", str(threads)], env=env, stdout=server_log, stderr=server_log)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(150):
                try:
                    if requests.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
            b = Bridge(url, env, process, simulator)
            b.cli("connection", "create", "--identifier", "bench", "--display-name", "Bench", "--app-id", APP_ID,
                  "--app-secret", APP_SECRET, "--token", TOKEN, "--encoding-aes-key", AES, "--encryption", "safe",
                  "--scene-prefix", "bench_")
            simulator.attach(create_simulator_app([SimAccount(
                app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encryption="safe", encoding_aes_key=AES,
                callback_url=f"{url}/connections/social/bench/events")]))
            simulator.start()
            yield b
        finally:
            process.terminate()
            process.wait(30)
            simulator.stop()


def rss_of_workers(master_pid: int) -> list[float]:
    """Resident memory (MB) of each gunicorn worker of ``master_pid`` (Linux /proc)."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(master_pid):
            sizes.append(int(fields.get("VmRSS", "0 kB").split()[0]) / 1024)
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds consumed so far by ``pids`` (Linux /proc/<pid>/stat, clock ticks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / ticks


def children_of(master_pid: int) -> list[int]:
    """The direct children of ``master_pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{master_pid}\n" in status:
                found.append(int(entry.name))
    return found


def database_cpu_seconds() -> float:
    """CPU seconds used so far by the PostgreSQL server: its live processes plus, through the postmaster's
    ``cutime``/``cstime``, the backends that have already exited (a difference of two calls is the CPU used
    in between, also when connections come and go)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if fields[1] == "1" or (entry / "cmdline").read_bytes().startswith(b"/usr/lib/postgresql"):
            total += int(fields[13]) + int(fields[14])  # reaped children (the postmaster's cutime, cstime)
    return total / ticks
