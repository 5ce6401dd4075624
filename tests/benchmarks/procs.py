"""Processes the benchmark runs and watches: a `cx-streams worker` pinned to a core, its memory
(from /proc) and its metrics (from /metrics)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = [
    "BenchError",
    "CpuWatch",
    "Memory",
    "Scrape",
    "WorkerProcess",
    "accounted_events",
    "accounted_profiles",
    "core_busy",
    "free_port",
    "pinned_command",
    "read_memory",
]

ROOT: Final = Path(__file__).resolve().parents[2]

_SAMPLE: Final = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL: Final = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_REBUILT: Final = re.compile(r"customer index rebuilt: (\d+) customers")


class BenchError(Exception):
    """The benchmark cannot go on; the message says why (and shows a log tail if useful)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned_command(command: Sequence[str], cpus: set[int] | None) -> tuple[list[str], Any]:
    """`command` run on `cpus` only: with `taskset -c` when installed (visible in ps), else
    with a `preexec_fn` that sets the child's affinity. Returns (argv, preexec_fn)."""
    if not cpus:
        return list(command), None
    cpu_list = ",".join(str(c) for c in sorted(cpus))
    if shutil.which("taskset"):
        return ["taskset", "-c", cpu_list, *command], None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return list(command), pin


@dataclass(frozen=True)
class Memory:
    """Resident memory of a process, in bytes: now (VmRSS) and its peak so far (VmHWM)."""

    rss: int
    peak: int


def read_memory(pid: int) -> Memory | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024  # kB
    if "VmRSS" not in values:
        return None  # a zombie has no memory lines
    return Memory(values["VmRSS"], values.get("VmHWM", values["VmRSS"]))


def _core_jiffies(cpu: int) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already in user
            return total - idle, total
    raise OSError(f"no cpu{cpu} in /proc/stat")


def core_busy(cpu: int, seconds: float = 2.0) -> float | None:
    """How busy (percent) one CPU is over the next `seconds`; None if /proc cannot say."""
    try:
        busy0, total0 = _core_jiffies(cpu)
        time.sleep(seconds)
        busy1, total1 = _core_jiffies(cpu)
    except (OSError, ValueError, IndexError):
        return None
    return 100 * (busy1 - busy0) / (total1 - total0) if total1 > total0 else None


def _process_jiffies(pid: int) -> int:
    """User + system jiffies of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


@dataclass
class CpuWatch:
    """How busy one core was over a phase, and how much of that was the watched process: tells
    a CPU-bound worker (near 100 %) from a waiting one, and shows other load on its core."""

    pid: int
    cpu: int
    _start: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        busy, total = _core_jiffies(self.cpu)
        self._start = (busy, total, _process_jiffies(self.pid))

    def result(self) -> dict[str, float] | None:
        try:
            busy, total = _core_jiffies(self.cpu)
            own = _process_jiffies(self.pid)
        except (OSError, ValueError, IndexError):
            return None
        elapsed = total - self._start[1]
        if elapsed <= 0:
            return None
        core = 100 * (busy - self._start[0]) / elapsed
        worker = 100 * (own - self._start[2]) / elapsed
        return {
            "cpu": self.cpu,
            "core_busy_percent": round(core, 1),
            "process_percent": round(worker, 1),
            # what else ran there; the process may also have run on no other core (pinned)
            "others_percent": round(max(0.0, core - worker), 1),
        }


@dataclass
class Scrape:
    """One read of /metrics (Prometheus text format): every sample with its labels."""

    samples: list[tuple[str, dict[str, str], float]]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            match = _SAMPLE.match(line)
            if match is None:
                continue
            name, labels, value = match.groups()
            parsed = dict(_LABEL.findall(labels)) if labels else {}
            try:
                samples.append((name, parsed, float(value)))
            except ValueError:
                continue
        return cls(samples)

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples named `name` whose labels include `labels`."""
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def by(self, name: str, label: str) -> dict[str, float]:
        """Samples named `name` summed by the value of one label (zeros left out)."""
        out: dict[str, float] = {}
        for sample, have, value in self.samples:
            if sample == name and value:
                key = have.get(label, "")
                out[key] = out.get(key, 0.0) + value
        return out


def accounted_events(scrape: Scrape) -> int:
    """Interaction messages the worker is done with, each counted once.

    `cx_events_total` counts a valid event in the score agent (outcome scored, duplicate or
    too_late) and an invalid message at ingest (type "invalid", outcome dead_lettered).
    """
    return round(scrape.total("cx_events_total"))


def accounted_profiles(scrape: Scrape) -> int:
    """Profile messages read: forwarded (accepted) or dead-lettered (`cx_invalid_events_total`
    with topic "customers" counts every dead-lettered profile once, whatever the reason)."""
    accepted = scrape.total("cx_profiles_total", outcome="accepted")
    return round(accepted + scrape.total("cx_invalid_events_total", topic="customers"))


@dataclass
class WorkerProcess:
    """A `python -m streams.cli worker` subprocess (or `command` after the interpreter), pinned
    to `cpus`, logging to `log_path`."""

    name: str
    env: dict[str, str]
    port: int
    log_path: Path
    cpus: set[int] | None
    command: tuple[str, ...] = ("-m", "streams.cli", "worker")
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # time.monotonic() at spawn
    argv: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv, preexec = pinned_command([sys.executable, *self.command], self.cpus)
        self.argv = argv
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,
                start_new_session=True,  # Ctrl-C reaches the benchmark, which stops it
            )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} worker is not running")
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is None:
            raise BenchError(f"{self.name} worker was never started")
        code = self.process.poll()
        if code is not None:
            raise BenchError(
                f"the {self.name} worker exited with code {code}; the end of its log "
                f"({self.log_path}):\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def rebuilt_customers(self) -> int | None:
        """N from the last 'customer index rebuilt: N customers' line of the log."""
        try:
            found = _REBUILT.findall(self.log_path.read_text(errors="replace"))
        except OSError:
            return None
        return int(found[-1]) if found else None

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        """(status, body) of GET `path`; status 0 when nothing answers."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=timeout
            ) as r:
                return int(r.status), bytes(r.read())
        except urllib.error.HTTPError as err:
            return int(err.code), bytes(err.read())
        except (OSError, TimeoutError):
            return 0, b""

    def healthz(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/healthz", timeout=5.0)
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            parsed = {}
        return status, parsed if isinstance(parsed, dict) else {}

    def metrics(self) -> Scrape | None:
        status, body = self.get("/metrics")
        return Scrape.parse(body.decode(errors="replace")) if status == 200 else None

    def memory(self) -> Memory | None:
        return read_memory(self.pid) if self.alive() else None

    def wait_ready(
        self,
        timeout: float,
        interval: float = 0.1,
        progress: Callable[[float], None] | None = None,
    ) -> tuple[float, dict[str, Any]]:
        """Poll /healthz until it answers 200 with the state recovered; return the moment
        (time.monotonic()) it first did and its body."""
        deadline = time.monotonic() + timeout
        last_note = time.monotonic()
        while True:
            self.check_alive()
            status, body = self.healthz()
            now = time.monotonic()
            if status == 200 and body.get("recovered"):
                return now, body
            if now > deadline:
                raise BenchError(
                    f"the {self.name} worker was not ready within {timeout:.0f} s (last "
                    f"/healthz: {status} {body}); the end of its log ({self.log_path}):\n"
                    f"{self.log_tail()}"
                )
            if progress is not None and now - last_note >= 10:
                last_note = now
                progress(now - self.started_at)
            time.sleep(interval)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Signal the worker and wait for it (SIGKILL after `timeout`); its exit code."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            try:
                process.send_signal(sig)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode
