"""`make bench`: throughput, latency, memory and restore time of the processor, in one run
against one broker. See BENCHMARKS.md for what is measured and how; `--help` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

import orjson

from streams.cli import positive_int, ratio
from streams.generator import GeneratorConfig
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.benchmarks.broker import OwnBroker, kafka_version
from tests.benchmarks.load import (
    delete_topics,
    end_offsets,
    percentiles,
    preload_journeys,
    preload_one_per_customer,
    run_latency,
)
from tests.benchmarks.procs import (
    ROOT,
    BenchError,
    CpuWatch,
    Memory,
    Scrape,
    WorkerProcess,
    accounted_events,
    accounted_profiles,
    core_busy,
    free_port,
    pinned_command,
)
from tests.benchmarks.report import judge, machine, write_markdown
from tests.benchmarks.stage_worker import STAGES

__all__ = ["main"]

#: the generator's "now" for the preload: fixed, so every run publishes the same messages
FIXED_CLOCK: Final = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
DEFAULT_OUTPUT: Final = ROOT / "tests" / "benchmarks" / "results.json"
DEFAULT_MARKDOWN: Final = ROOT / "BENCHMARKS.md"
POLL_SECONDS: Final = 0.5
SMOKE: Final = {
    "events": 10_000,
    "customers": 1_000,
    "latency_seconds": 5.0,
    "rocksdb_customers": 3_000,
}
FULL: Final = {
    "events": 1_000_000,
    "customers": 100_000,
    "latency_seconds": 60.0,
    "rocksdb_customers": 1_000_000,
}

EPILOG = """\
phases, in one run against one broker:
  idle      RSS of a ready worker with nothing to read (a baseline)
  preload   generator -> interactions and customers topics (fixed seed and clock)
  raw       one AIOKafkaConsumer on one core: getmany, orjson.loads, a dict update per customer
  stages    the worker on that core, its handling cut short after the intake, then after the
            event contract: where the time per event goes
  full      a cx-streams worker on the same core (memory store): events/s, RSS, RSS/customer
  latency   live events at half the full rate into that worker; event-to-alert latency
  restore   a fresh worker, same app id, empty data dir: seconds until /healthz is ready
  rocksdb   a CX_STORE=rocksdb worker on its own topics: RSS at each 10 % of the customers

examples:
  python -m tests.benchmarks.bench                         # full size (long), writes
                                                           # results.json and BENCHMARKS.md
  python -m tests.benchmarks.bench --smoke                 # tiny sizes, a temporary output
  python -m tests.benchmarks.bench --events 50000 --customers 5000 \\
      --rocksdb-customers 20000 --latency-seconds 10       # a quick look while developing
  python -m tests.benchmarks.bench --bootstrap 127.0.0.1:9092 --skip-rocksdb
  python -m tests.benchmarks.bench --worker-env CX_BATCH_SIZE=5000

Nothing here asserts a speed; the targets are judged in words in the output.
"""


def _positive_int(text: str) -> int:
    """The CLI's check, with thousands separators allowed: 1,000,000."""
    return positive_int(text.replace("_", "").replace(",", ""))


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("CX_"):
        raise argparse.ArgumentTypeError(f"expected CX_NAME=VALUE, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    default_partitions = Settings.model_fields["partitions"].default
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench",
        description="Benchmark the cx-streams processor: raw Kafka ceiling, the worker cut "
        "short after its intake and after the event contract, full-processor throughput and "
        "memory, event-to-alert latency at half the maximum rate, restore time from the "
        "changelog and RocksDB memory growth, in one run against one broker.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    size = parser.add_argument_group("sizes")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes (10,000 events over 1,000 customers, 5 s latency phase, RocksDB "
        "3,000 customers) and a temporary output; BENCHMARKS.md is left alone",
    )
    size.add_argument(
        "--events",
        type=_positive_int,
        help=f"interaction events to preload (default {FULL['events']:,})",
    )
    size.add_argument(
        "--customers",
        type=_positive_int,
        help=f"customers of the preload (default {FULL['customers']:,})",
    )
    size.add_argument(
        "--invalid-ratio",
        type=ratio,
        default=0.001,
        help="share of malformed messages in the preload (default 0.001)",
    )
    size.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    size.add_argument(
        "--partitions",
        type=_positive_int,
        default=default_partitions,
        help=f"partitions of every topic (default {default_partitions}, as CX_PARTITIONS)",
    )
    size.add_argument(
        "--latency-seconds",
        type=_positive_float,
        help=f"length of the latency phase (default {FULL['latency_seconds']:g})",
    )
    size.add_argument(
        "--latency-rate",
        type=_positive_float,
        help="events/s of the latency phase (default: half the full processor's rate)",
    )
    size.add_argument(
        "--latency-customers",
        type=_positive_int,
        help="customers of the latency phase (default: about one per 8 events it sends, "
        "20 to 5,000, so personas reach their alerts within the phase)",
    )
    size.add_argument(
        "--rocksdb-customers",
        type=_positive_int,
        help=f"distinct customers of the RocksDB phase (default {FULL['rocksdb_customers']:,})",
    )
    size.add_argument(
        "--rocksdb-events-per-customer",
        type=_positive_int,
        default=1,
        help="events per customer in the RocksDB phase (default 1)",
    )
    size.add_argument("--skip-rocksdb", action="store_true", help="leave out the RocksDB phase")

    where = parser.add_argument_group("where")
    where.add_argument(
        "--port",
        type=_positive_int,
        default=19400,
        help="port of the benchmark's own broker (and the next one, its controller's); "
        "deleted before and after the run (default 19400)",
    )
    where.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="use this running broker instead of starting one; the run's topics get unique "
        "names and are deleted afterwards",
    )
    where.add_argument(
        "--worker-cpu",
        type=int,
        default=0,
        help="the one core the worker and the raw reader run on (default 0); the broker and "
        "this script run on the others",
    )
    where.add_argument("--no-pin", action="store_true", help="pin nothing to any core")
    where.add_argument(
        "--worker-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="CX_NAME=VALUE",
        help="a setting for every worker (repeatable), e.g. CX_BATCH_SIZE=5000",
    )
    where.add_argument(
        "--silence-check-seconds",
        type=_positive_float,
        default=3600.0,
        help="CX_SILENCE_CHECK_SECONDS of the workers (default 3600: the preload's event "
        "times are weeks before the live ones, and a sweep of every backfilled customer in "
        "the middle of the latency phase would measure that instead)",
    )
    where.add_argument(
        "--work-dir",
        type=Path,
        help="where worker logs and data go (default var/bench/<run id>; data is deleted "
        "at the end, logs are kept)",
    )
    where.add_argument(
        "--stall-seconds",
        type=_positive_float,
        default=180.0,
        help="give up when a worker makes no progress for this long (default 180)",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        type=Path,
        help="results JSON (default tests/benchmarks/results.json; with --smoke a temporary file)",
    )
    out.add_argument(
        "--markdown",
        type=Path,
        help="the Markdown file whose results section is refreshed (default BENCHMARKS.md; "
        "none with --smoke)",
    )
    out.add_argument("--no-markdown", action="store_true", help="do not write the Markdown file")
    return parser


def say(text: str) -> None:
    print(text, flush=True)


def phase(name: str, what: str) -> None:
    say(f"\n== {name}: {what}")


def _mib(value: int | float | None) -> str:
    return f"{value / 2**20:,.1f} MiB" if value is not None else "?"


@dataclass
class Run:
    """One benchmark run: its options, broker, workers (for clean-up) and results."""

    args: argparse.Namespace
    token: str
    work_dir: Path
    bootstrap: str = ""
    worker_cpus: set[int] | None = None
    other_cpus: set[int] | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"cxbench-{self.token}"

    def settings(self, name: str) -> Settings:
        app_id = f"{self.prefix}-{name}"
        return Settings(
            kafka_bootstrap=self.bootstrap,
            app_id=app_id,
            topic_interactions=f"{app_id}.interactions",
            topic_customers=f"{app_id}.customers",
            topic_scores=f"{app_id}.scores",
            topic_alerts=f"{app_id}.alerts",
            topic_dlq=f"{app_id}.dlq",
            partitions=self.args.partitions,
        )

    def worker(
        self,
        name: str,
        settings: Settings,
        store: str,
        command: tuple[str, ...] = WorkerProcess.command,
    ) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CX_")}
        port = free_port()
        env.update(
            {
                "CX_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                "CX_APP_ID": settings.app_id,
                "CX_TOPIC_INTERACTIONS": settings.topic_interactions,
                "CX_TOPIC_CUSTOMERS": settings.topic_customers,
                "CX_TOPIC_SCORES": settings.topic_scores,
                "CX_TOPIC_ALERTS": settings.topic_alerts,
                "CX_TOPIC_DLQ": settings.topic_dlq,
                "CX_PARTITIONS": str(settings.partitions),
                "CX_STORE": store,
                "CX_WEB_PORT": str(port),
                "CX_DATA_DIR": str(self.work_dir / f"data-{name}"),
                "CX_LOG_LEVEL": "info",
                "CX_SILENCE_CHECK_SECONDS": f"{self.args.silence_check_seconds:g}",
            }
        )
        env.update(dict(self.args.worker_env))
        worker = WorkerProcess(
            name=name,
            env=env,
            port=port,
            log_path=self.work_dir / f"worker-{name}.log",
            cpus=self.worker_cpus,
            command=command,
        )
        self.workers.append(worker)
        return worker

    def start(self, worker: WorkerProcess, timeout: float = 300.0) -> tuple[float, Memory]:
        """Start `worker` and wait until it is ready; its ready moment and memory then."""
        worker.start()
        say(f"  {worker.name} worker: pid {worker.pid}, port {worker.port}, log {worker.log_path}")
        ready, _ = worker.wait_ready(
            timeout,
            progress=lambda s: say(f"  {worker.name} worker: not ready yet after {s:.0f} s"),
        )
        memory = worker.memory()
        if memory is None:
            worker.check_alive()
            raise BenchError(f"cannot read the memory of the {worker.name} worker")
        say(f"  {worker.name} worker: ready {ready - worker.started_at:.1f} s after its start")
        return ready, memory

    def stop(self, worker: WorkerProcess) -> None:
        code = worker.stop()
        if worker in self.workers:
            self.workers.remove(worker)
        if code not in (0, None, -signal.SIGTERM):
            say(f"  {worker.name} worker exited with code {code}; log tail:\n{worker.log_tail()}")


@dataclass
class Progress:
    """Is the worker getting anywhere? Events accounted for, or else (the ingest agent can
    read a backlog for minutes before the score agent counts anything) records added to the
    keyed topic, which is the ingest's output."""

    worker: WorkerProcess
    keyed_topic: str
    bootstrap: str
    stall_seconds: float
    counted: int = -1
    keyed: int = -1
    since: float = field(default_factory=time.monotonic)
    checked: float = field(default_factory=time.monotonic)

    def update(self, counted: int, now: float) -> None:
        if counted != self.counted:
            self.counted, self.since, self.checked = counted, now, now
            return
        if now - self.checked >= 30:
            self.checked = now
            try:
                keyed = sum(asyncio.run(end_offsets(self.bootstrap, self.keyed_topic)).values())
            except Exception:
                keyed = self.keyed
            if keyed != self.keyed:
                self.keyed, self.since = keyed, now
        if now - self.since > self.stall_seconds:
            raise BenchError(
                f"the {self.worker.name} worker made no progress for {self.stall_seconds:.0f} s "
                f"at {self.counted:,} events accounted for (nor did its keyed topic grow); its "
                f"log:\n{self.worker.log_tail()}"
            )


def _thin(samples: list[dict[str, Any]], most: int = 400) -> list[dict[str, Any]]:
    """At most about `most` samples, evenly spaced, the last one kept."""
    if len(samples) <= most:
        return samples
    step = -(-len(samples) // most)
    return [*samples[:-1:step], samples[-1]]


def _scrape(worker: WorkerProcess) -> Scrape:
    """A /metrics read; retried while the worker is too busy to answer."""
    for _ in range(30):
        worker.check_alive()
        scrape = worker.metrics()
        if scrape is not None:
            return scrape
        time.sleep(POLL_SECONDS)
    raise BenchError(
        f"the {worker.name} worker's /metrics did not answer; its log:\n{worker.log_tail()}"
    )


def _customers(scrape: Scrape) -> int:
    return round(scrape.total("cx_customers_tracked"))


def _outcomes(scrape: Scrape) -> dict[str, Any]:
    return {
        "events_by_outcome": {
            k: round(v) for k, v in scrape.by("cx_events_total", "outcome").items()
        },
        "invalid_by_reason": {
            k: round(v) for k, v in scrape.by("cx_invalid_events_total", "reason").items()
        },
        "alerts_by_kind": {k: round(v) for k, v in scrape.by("cx_alerts_total", "kind").items()},
        "score_updates": round(scrape.total("cx_score_updates_total")),
    }


def phase_idle(run: Run) -> None:
    """RSS of a worker with nothing to read: the baseline of the per-customer figures that
    leave out a busy worker's buffers."""
    main = run.settings("mem")
    phase("idle", "RSS of a ready worker (memory store) with nothing to read")
    asyncio.run(ensure_topics(main))  # still empty: the preload comes next
    settings = main.model_copy(update={"app_id": f"{run.prefix}-idle"})
    worker = run.worker("idle", settings, "memory")
    ready, _ = run.start(worker)
    time.sleep(3.0)  # let it settle: the first fetches, the first probe of the broker
    memory = worker.memory()
    worker.check_alive()
    assert memory is not None
    run.results["idle"] = {
        "rss_bytes": memory.rss,
        "rss_peak_bytes": memory.peak,
        "startup_seconds": ready - worker.started_at,
    }
    say(f"  idle worker: RSS {_mib(memory.rss)} (peak {_mib(memory.peak)})")
    run.stop(worker)


def phase_preload(run: Run) -> None:
    a = run.args
    settings = run.settings("mem")
    phase(
        "preload",
        f"{a.events:,} events over {a.customers:,} customers into {settings.topic_interactions}",
    )
    asyncio.run(ensure_topics(settings))
    config = GeneratorConfig(
        customers=a.customers,
        rate=0,
        events=a.events,
        seed=a.seed,
        invalid_ratio=a.invalid_ratio,
        backfill_days=30,
        id_prefix="C-",
    )
    report = asyncio.run(preload_journeys(settings, config, FIXED_CLOCK))
    events = sum(asyncio.run(end_offsets(run.bootstrap, settings.topic_interactions)).values())
    profiles = sum(asyncio.run(end_offsets(run.bootstrap, settings.topic_customers)).values())
    if events != report.events or profiles != report.profiles:
        raise BenchError(
            f"the topics hold {events:,} events and {profiles:,} profiles; the generator "
            f"sent {report.events:,} and {report.profiles:,}"
        )
    messages = report.events + report.profiles
    rate = messages / report.seconds
    say(
        f"  preloaded {report.profiles:,} profiles and {report.events:,} events "
        f"({report.invalid:,} malformed) in {report.seconds:.1f} s: {rate:,.0f} messages/s"
    )
    run.results["preload"] = {
        "events": report.events,
        "profiles": report.profiles,
        "invalid": report.invalid,
        "seconds": report.seconds,
        "messages_per_second": rate,
        "topic": settings.topic_interactions,
        "generator": {
            "customers": config.customers,
            "events": config.events,
            "seed": config.seed,
            "rate": config.rate,
            "invalid_ratio": config.invalid_ratio,
            "unkeyed_ratio": config.unkeyed_ratio,
            "backfill_days": config.backfill_days,
            "clock": FIXED_CLOCK.isoformat(),
            "id_prefix": config.id_prefix,
        },
    }


def phase_raw(run: Run) -> None:
    events = run.results["preload"]["events"]
    topic = run.results["preload"]["topic"]
    phase("raw", f"one AIOKafkaConsumer reads {events:,} events on CPU {_cpus(run.worker_cpus)}")
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.raw_ceiling",
        "--bootstrap",
        run.bootstrap,
        "--topic",
        topic,
        "--expect",
        str(events),
        "--stall",
        f"{run.args.stall_seconds:g}",
    ]
    argv, preexec = pinned_command(command, run.worker_cpus)
    done = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=preexec,
        start_new_session=True,
    )
    if done.returncode != 0:
        raise BenchError(f"the raw reader failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = orjson.loads(done.stdout.strip().splitlines()[-1])
    say(
        f"  read {result['records']:,} records ({result['customers']:,} customers, "
        f"{result['unparsable']:,} not JSON) in {result['seconds']:.2f} s: "
        f"{result['events_per_second']:,.0f} events/s"
    )
    run.results["raw"] = result


def phase_stages(run: Run) -> None:
    """The worker cut short after one stage of its input handling (the intake alone, then the
    event contract too): how much of the time per event those take, on the same events."""
    events = run.results["preload"]["events"]
    raw_rate = run.results["raw"]["events_per_second"]
    phase(
        "stages",
        f"the worker cut short after its intake, then after the contract, on CPU "
        f"{_cpus(run.worker_cpus)}, reads {events:,} events each time",
    )
    base = run.settings("mem")
    results: dict[str, Any] = {}
    for stage in STAGES:
        settings = base.model_copy(update={"app_id": f"{run.prefix}-stage-{stage}"})
        path = run.work_dir / f"stage-{stage}.json"
        path.unlink(missing_ok=True)
        command = (
            *("-m", "tests.benchmarks.stage_worker", "--stage", stage),
            *("--expect", str(events), "--result", str(path)),
        )
        worker = run.worker(f"stage-{stage}", settings, "memory", command)
        run.start(worker)
        line = _stage_result(run, worker, settings, path)
        run.stop(worker)
        seconds = max(line["last_record_at"] - line["first_record_at"], 1e-6)
        rate = (line["records"] - 1) / seconds
        result = {
            "records": line["records"],
            "seconds": seconds,
            "events_per_second": rate,
            "ratio_to_raw": rate / raw_rate,
            "percent_of_raw": 100 * rate / raw_rate,
            "microseconds_per_event": 1e6 / rate,
            "timing": "from the first record handled to the last, by the worker's clock",
        }
        results[stage] = result
        say(
            f"  {stage}: {result['records']:,} events in {result['seconds']:.2f} s: "
            f"{rate:,.0f} events/s = {100 * rate / raw_rate:.1f} % of the raw ceiling, "
            f"{1e6 / rate:.1f} µs per event"
        )
    run.results["stages"] = results


def _stage_result(
    run: Run, worker: WorkerProcess, settings: Settings, path: Path
) -> dict[str, Any]:
    """What a stage worker writes to `path` once it has handled every event."""
    progress = Progress(worker, settings.keyed_topic, run.bootstrap, run.args.stall_seconds)
    checked = time.monotonic()
    while True:
        worker.check_alive()
        if path.exists():
            result: dict[str, Any] = orjson.loads(path.read_bytes())
            return result
        now = time.monotonic()
        if now - checked >= 5:  # a scrape costs the worker's core: seldom, for stalls only
            checked = now
            scrape = worker.metrics()
            progress.update(accounted_events(scrape) if scrape else progress.counted, now)
        time.sleep(0.1)


def phase_full(run: Run) -> WorkerProcess:
    preload = run.results["preload"]
    events, profiles = preload["events"], preload["profiles"]
    settings = run.settings("mem")
    phase(
        "full",
        f"a cx-streams worker (memory store) on CPU {_cpus(run.worker_cpus)} reads "
        f"{events:,} events and {profiles:,} profiles",
    )
    worker = run.worker("full", settings, "memory")
    ready, baseline = run.start(worker)
    cpu = _cpu_watch(run, worker)
    first = _scrape(worker)
    customers_at_ready = _customers(first)
    samples: list[dict[str, Any]] = []
    done_at: float | None = None
    progress = Progress(worker, settings.keyed_topic, run.bootstrap, run.args.stall_seconds)
    last_note = time.monotonic()
    scrape = first
    while done_at is None:
        worker.check_alive()
        now = time.monotonic()
        current = worker.metrics() if samples else first
        memory = worker.memory()
        if current is not None:
            scrape = current
            counted, read_profiles = accounted_events(scrape), accounted_profiles(scrape)
            sample = {
                "seconds": now - ready,
                "events": counted,
                "profiles": read_profiles,
                "customers": _customers(scrape),
                "rss_bytes": memory.rss if memory else None,
            }
            samples.append(sample)
            if counted >= events and read_profiles >= profiles:
                done_at = now
                break
            if now - last_note >= 5:
                last_note = now
                elapsed = max(now - ready, 1e-9)
                say(
                    f"  full: {counted:,} / {events:,} events, {read_profiles:,} / "
                    f"{profiles:,} profiles, {sample['customers']:,} customers, "
                    f"{counted / elapsed:,.0f} events/s so far, RSS {_mib(sample['rss_bytes'])}"
                )
            progress.update(counted, now)
        else:
            progress.update(progress.counted, now)
        time.sleep(POLL_SECONDS)
    end = worker.memory()
    worker.check_alive()
    core = cpu.result() if cpu else None
    assert end is not None and done_at is not None
    seconds = done_at - ready
    rate = events / seconds
    customers = _customers(scrape)
    added = customers - customers_at_ready
    per_customer = (end.rss - baseline.rss) / added if added > 0 else None
    raw_rate = run.results["raw"]["events_per_second"]
    moving = next((s for s in samples if s["events"] > 0), None)
    steady = (
        (events - moving["events"]) / (seconds - moving["seconds"])
        if moving is not None and seconds > moving["seconds"]
        else None
    )
    run.results["full"] = {
        "events": events,
        "profiles": profiles,
        "seconds": seconds,
        "events_per_second": rate,
        "messages_per_second": (events + profiles) / seconds,
        "events_per_second_after_first_progress": steady,
        "ratio_to_raw": rate / raw_rate,
        "percent_of_raw": 100 * rate / raw_rate,
        "startup_seconds": ready - worker.started_at,
        "rss_ready_bytes": baseline.rss,
        "rss_end_bytes": end.rss,
        "rss_peak_bytes": end.peak,
        "customers_at_ready": customers_at_ready,
        "customers_tracked": customers,
        "customers_added": added,
        "rss_per_customer_bytes": per_customer,
        "rss_per_customer_kib": per_customer / 1024 if per_customer is not None else None,
        "rss_per_customer_over_idle_bytes": (end.rss - run.results["idle"]["rss_bytes"]) / customers
        if customers > 0
        else None,
        "events_accounted": accounted_events(scrape),
        "profiles_accounted": accounted_profiles(scrape),
        **_outcomes(scrape),
        "cpu": core,
        "rss_samples": _thin(samples),
        "poll_seconds": POLL_SECONDS,
        "timing": "from the first /healthz 200 to the /metrics poll at which every input "
        "message was accounted for",
    }
    say(
        f"  full: {events:,} events in {seconds:.1f} s: {rate:,.0f} events/s = "
        f"{100 * rate / raw_rate:.1f} % of the raw ceiling ({raw_rate:,.0f} events/s)"
    )
    _say_cpu(core)
    say(
        f"  memory: RSS {_mib(baseline.rss)} at ready, {_mib(end.rss)} at the end, peak "
        f"{_mib(end.peak)}; {customers:,} customers tracked"
        + (
            f": {per_customer:,.0f} bytes = {per_customer / 1024:.2f} KiB per customer"
            if per_customer is not None
            else ""
        )
    )
    return worker


def phase_latency(run: Run, worker: WorkerProcess) -> None:
    a = run.args
    full = run.results["full"]
    rate = a.latency_rate or full["events_per_second"] / 2
    seconds = a.latency_seconds
    customers = a.latency_customers or min(5000, max(20, round(rate * seconds / 8)))
    settings = run.settings("mem")
    phase(
        "latency",
        f"{rate:,.0f} events/s for {seconds:g} s from {customers:,} new customers into the "
        "running worker",
    )
    base = accounted_events(_scrape(worker))
    config = GeneratorConfig(
        customers=customers,
        rate=rate,
        seed=a.seed + 1000,
        backfill_days=0,
        id_prefix="L-",
    )
    lag_at_end: list[int] = []
    samples: list[dict[str, Any]] = []
    started = time.monotonic()

    async def drained(sent: int) -> bool:
        scrape = await asyncio.to_thread(worker.metrics)
        worker.check_alive()
        if scrape is None:
            return False
        counted = accounted_events(scrape) - base
        memory = worker.memory()
        samples.append(
            {
                "seconds": time.monotonic() - started,
                "events": counted,
                "customers": _customers(scrape),
                "rss_bytes": memory.rss if memory else None,
            }
        )
        if not lag_at_end:
            lag_at_end.append(sent - counted)
        return counted >= sent

    result = asyncio.run(
        run_latency(settings, config, rate, seconds, drained, drain_timeout=a.stall_seconds)
    )
    by_timestamp = percentiles(result.by_timestamp_ms, (50, 90, 99))
    by_receipt = percentiles(result.by_receipt_ms, (50, 90, 99))
    scrape = _scrape(worker)
    memory = worker.memory()
    run.results["latency"] = {
        "rate_target": rate,
        "rate_achieved": result.achieved_rate,
        "seconds_target": seconds,
        "seconds_sending": result.last_send - result.first_send,
        "customers": customers,
        "events_sent": result.sent,
        "events_accounted": accounted_events(scrape) - base,
        "behind_schedule_at_end_seconds": result.behind_at_end,
        "events_not_yet_read_when_sending_ended": lag_at_end[0] if lag_at_end else None,
        "alerts_read": result.alerts_read,
        "alerts_matched": result.alerts_matched,
        "alerts_silent_excluded": result.alerts_silent,
        "alerts_unmatched": result.alerts_other,
        "alerts_by_kind": result.alert_kinds,
        "latency_ms": by_timestamp,
        "latency_basis": "alert record timestamp (CreateTime, set by the worker's producer) "
        "minus the wall-clock time just before the benchmark's send() of the trigger event",
        "latency_by_receipt_ms": by_receipt,
        "timestamp_types": {str(k): v for k, v in result.timestamp_types.items()},
        "customers_tracked_after": _customers(scrape),
        "rss_after_bytes": memory.rss if memory else None,
        "rss_peak_after_bytes": memory.peak if memory else None,
        "samples": _thin(samples),
    }
    say(
        f"  sent {result.sent:,} events at {result.achieved_rate:,.0f}/s (target {rate:,.0f}); "
        f"{result.alerts_matched:,} alerts matched ({result.alerts_silent} silent left out, "
        f"{result.alerts_other} for other events)"
    )
    if by_timestamp.get("count"):
        say(
            "  event-to-alert latency (record timestamp): "
            f"p50 {by_timestamp['p50']:,.0f} ms, p90 {by_timestamp['p90']:,.0f} ms, "
            f"p99 {by_timestamp['p99']:,.0f} ms, max {by_timestamp['max']:,.0f} ms"
        )
    else:
        say("  no alert came back for the events of this phase")


def phase_restore(run: Run, previous: WorkerProcess) -> None:
    expected = run.results["latency"]["customers_tracked_after"]
    phase("restore", f"stop the worker; a fresh one restores {expected:,} customers")
    stopping = time.monotonic()
    run.stop(previous)
    say(f"  stopped the worker (SIGTERM) in {time.monotonic() - stopping:.1f} s")
    settings = run.settings("mem")
    worker = run.worker("restore", settings, "memory")
    shutil.rmtree(worker.env["CX_DATA_DIR"], ignore_errors=True)
    ready, memory = run.start(worker, timeout=max(600.0, run.args.stall_seconds))
    seconds = ready - worker.started_at
    _, body = worker.healthz()
    restored = int(body.get("customers_tracked", -1))
    logged = worker.rebuilt_customers()
    empty = run.results["idle"]["rss_bytes"]
    run.results["restore"] = {
        "seconds": seconds,
        "customers_restored": restored,
        "customers_expected": expected,
        "customers_in_log_line": logged,
        "startup_seconds_empty_state": run.results["full"]["startup_seconds"],
        "rss_at_ready_bytes": memory.rss,
        "rss_peak_bytes": memory.peak,
        # the state alone, without the buffers of a worker busy with input: RSS of the
        # restored worker at ready minus that of an idle worker (nothing to read)
        "rss_per_customer_restored_bytes": (memory.rss - empty) / restored
        if restored > 0
        else None,
        "timing": "from the process start to the first /healthz 200 with recovered=true",
    }
    say(
        f"  restored {restored:,} customers (expected {expected:,}; log line: {logged}) in "
        f"{seconds:.1f} s (start with empty state: "
        f"{run.results['full']['startup_seconds']:.1f} s); RSS {_mib(memory.rss)}"
        + (
            f" ({(memory.rss - empty) / restored:,.0f} bytes per customer more than an idle worker)"
            if restored > 0
            else ""
        )
    )
    run.stop(worker)


def phase_rocksdb(run: Run) -> None:
    a = run.args
    target = a.rocksdb_customers
    per_customer = a.rocksdb_events_per_customer
    events = target * per_customer
    settings = run.settings("rdb")
    phase(
        "rocksdb",
        f"{target:,} customers x {per_customer} event(s) into a CX_STORE=rocksdb worker",
    )
    asyncio.run(ensure_topics(settings))
    sent, preload_seconds = asyncio.run(
        preload_one_per_customer(settings, target, per_customer, FIXED_CLOCK, "R-")
    )
    say(f"  preloaded {sent:,} events in {preload_seconds:.1f} s")
    worker = run.worker("rocksdb", settings, "rocksdb")
    ready, baseline = run.start(worker)
    cpu = _cpu_watch(run, worker)
    series: list[dict[str, Any]] = []
    next_step = 1
    progress = Progress(worker, settings.keyed_topic, run.bootstrap, a.stall_seconds)
    last_note = time.monotonic()
    done_at: float | None = None
    scrape: Scrape | None = None
    while done_at is None:
        worker.check_alive()
        now = time.monotonic()
        current = worker.metrics()
        if current is not None:
            scrape = current
            counted, customers = accounted_events(scrape), _customers(scrape)
            memory = worker.memory()
            while next_step <= 10 and customers >= target * next_step / 10 and memory:
                series.append(
                    {
                        "percent": next_step * 10,
                        "customers": customers,
                        "rss_bytes": memory.rss,
                        "peak_bytes": memory.peak,
                        "seconds": now - ready,
                    }
                )
                say(
                    f"  rocksdb: {next_step * 10:3d} %: {customers:,} customers, "
                    f"RSS {_mib(memory.rss)} (peak {_mib(memory.peak)})"
                )
                next_step += 1
            if counted >= events:
                done_at = now
                break
            if now - last_note >= 10:
                last_note = now
                say(f"  rocksdb: {counted:,} / {events:,} events, {customers:,} customers")
            progress.update(counted, now)
        else:
            progress.update(progress.counted, now)
        time.sleep(POLL_SECONDS)
    end = worker.memory()
    core = cpu.result() if cpu else None
    assert end is not None and scrape is not None and done_at is not None
    customers = _customers(scrape)
    data_bytes = sum(
        f.stat().st_size for f in Path(worker.env["CX_DATA_DIR"]).rglob("*") if f.is_file()
    )
    first = series[0] if series else None
    flatness = end.rss / first["rss_bytes"] if first else None
    growth = (
        (end.rss - first["rss_bytes"]) / (customers - first["customers"])
        if first and customers > first["customers"]
        else None
    )
    seconds = done_at - ready
    run.results["rocksdb"] = {
        "customers_target": target,
        "events": events,
        "events_per_customer": per_customer,
        "customers_tracked": customers,
        "seconds": seconds,
        "events_per_second": events / seconds,
        "rss_ready_bytes": baseline.rss,
        "rss_at_10_percent_bytes": first["rss_bytes"] if first else None,
        "rss_end_bytes": end.rss,
        "rss_peak_bytes": end.peak,
        "flatness": flatness,
        "flatness_definition": "RSS at the end / RSS when 10 % of the customers were tracked",
        "rss_growth_per_customer_bytes": growth,
        # a straight line through the 10 % and 100 % points: for small runs, not a measurement
        "rss_projected_1m_bytes": end.rss + growth * (1_000_000 - customers)
        if growth is not None and customers < 1_000_000
        else None,
        "data_dir_bytes": data_bytes,
        "cpu": core,
        "series": series,
        **_outcomes(scrape),
    }
    say(
        f"  rocksdb: {events:,} events in {seconds:.1f} s ({events / seconds:,.0f} events/s); "
        f"RSS {_mib(first['rss_bytes'] if first else None)} at 10 % -> {_mib(end.rss)} at the "
        f"end"
        + (f" (x{flatness:.2f})" if flatness else "")
        + (f", {growth:+,.0f} bytes per customer" if growth is not None else "")
        + f"; data dir {_mib(data_bytes)}"
    )
    _say_cpu(core)
    run.stop(worker)


def _cpu_watch(run: Run, worker: WorkerProcess) -> CpuWatch | None:
    if not run.worker_cpus or len(run.worker_cpus) != 1:
        return None
    try:
        return CpuWatch(worker.pid, next(iter(run.worker_cpus)))
    except (OSError, ValueError, IndexError):
        return None


def _say_cpu(core: dict[str, float] | None) -> None:
    if core is None:
        return
    say(
        f"  CPU {core['cpu']:.0f}: {core['core_busy_percent']:.0f} % busy, the worker "
        f"{core['process_percent']:.0f} %"
        + (
            f"; WARNING: {core['others_percent']:.0f} % was something else (other processes, "
            "interrupts), so the figures may be low"
            if core["others_percent"] >= 15
            else ""
        )
    )


def _cpus(cpus: set[int] | None) -> str:
    return ",".join(str(c) for c in sorted(cpus)) if cpus else "any"


def _pin(run: Run) -> None:
    if run.args.no_pin:
        return
    allowed = os.sched_getaffinity(0)
    if run.args.worker_cpu not in allowed:
        raise BenchError(
            f"--worker-cpu {run.args.worker_cpu} is not among this process's CPUs {sorted(allowed)}"
        )
    run.worker_cpus = {run.args.worker_cpu}
    others = allowed - run.worker_cpus
    if not others:
        say("note: only one CPU: the worker, the broker and this script share it")
        return
    run.other_cpus = others
    os.sched_setaffinity(0, others)  # and so the broker, the generator and the reader of alerts
    busy = core_busy(run.args.worker_cpu)
    run.results["worker_cpu_busy_before_percent"] = busy
    if busy is not None and busy >= 20:
        say(
            f"WARNING: CPU {run.args.worker_cpu} is already {busy:.0f} % busy with something "
            "else: the worker will share it and its figures will be low (see 'cpu' in the "
            "results)"
        )
    say(
        f"CPUs: worker and raw reader on {_cpus(run.worker_cpus)}; everything else on {_cpus(others)}"
    )


def _summary(run: Run) -> None:
    phase("summary", "targets")
    for t in run.results["targets"]:
        note = f" ({t['note']})" if t["note"] else ""
        say(f"  [{t['verdict']:>10}] {t['name']}: {t['measured']} (target {t['target']}){note}")


def execute(run: Run) -> None:
    a = run.args
    broker: OwnBroker | None = None
    try:
        if a.bootstrap:
            run.bootstrap = a.bootstrap
            say(f"broker: using {a.bootstrap}; topics {run.prefix}-*")
        else:
            broker = OwnBroker(a.port, run.other_cpus)
            phase("broker", f"a clean local Kafka on 127.0.0.1:{a.port}")
            broker.up()
            run.bootstrap = broker.bootstrap
        phase_idle(run)
        phase_preload(run)
        phase_raw(run)
        phase_stages(run)
        worker = phase_full(run)
        phase_latency(run, worker)
        phase_restore(run, worker)
        if a.skip_rocksdb:
            run.results["rocksdb"] = None
        else:
            phase_rocksdb(run)
        run.results["targets"] = judge(run.results)
    finally:
        for worker in list(run.workers):
            worker.stop(timeout=30)
        run.workers.clear()
        if a.bootstrap and run.bootstrap:
            try:
                deleted = asyncio.run(delete_topics(run.bootstrap, run.prefix))
                say(f"deleted {len(deleted)} topics of this run from {run.bootstrap}")
            except Exception as exc:
                say(f"could not delete the topics {run.prefix}-*: {exc}")
        if broker is not None:
            broker.down()
        for data in run.work_dir.glob("data-*"):
            shutil.rmtree(data, ignore_errors=True)


def _terminate(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # aiokafka's retried warnings (a topic just created has no leader for a moment) are noise
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    # every setting of the run is explicit (the Makefile exports CX_KAFKA_BOOTSTRAP, say)
    for name in [n for n in os.environ if n.startswith("CX_")]:
        del os.environ[name]
    sizes = SMOKE if args.smoke else FULL
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    token = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    work_dir = args.work_dir or ROOT / "var" / "bench" / token
    work_dir.mkdir(parents=True, exist_ok=True)
    if args.output is None:
        args.output = (
            Path(tempfile.mkdtemp(prefix="cx-bench-")) / "results.json"
            if args.smoke
            else DEFAULT_OUTPUT
        )
    markdown = None if args.no_markdown else args.markdown
    if markdown is None and not args.smoke and not args.no_markdown:
        markdown = DEFAULT_MARKDOWN
    command = shlex.join(["python", "-m", "tests.benchmarks.bench", *(argv or sys.argv[1:])])
    run = Run(args=args, token=token, work_dir=work_dir)
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C, even where the shell started us with SIGINT ignored (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    say(f"cx-streams benchmark {token}: logs in {work_dir}")
    started = time.monotonic()
    kafka = f"unknown (a running broker at {args.bootstrap})" if args.bootstrap else kafka_version()
    host = machine(kafka)  # the code the workers run is what the checkout holds now
    try:
        _pin(run)
        execute(run)
    except BenchError as exc:
        print(f"\nbench: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted; stopped what it started", file=sys.stderr, flush=True)
        return 130
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "duration_seconds": time.monotonic() - started,
        "parameters": {
            "smoke": args.smoke,
            "events": args.events,
            "customers": args.customers,
            "invalid_ratio": args.invalid_ratio,
            "seed": args.seed,
            "partitions": args.partitions,
            "latency_seconds": args.latency_seconds,
            "latency_rate": args.latency_rate,
            "latency_customers": args.latency_customers,
            "rocksdb_customers": args.rocksdb_customers,
            "rocksdb_events_per_customer": args.rocksdb_events_per_customer,
            "skip_rocksdb": args.skip_rocksdb,
            "bootstrap": args.bootstrap,
            "own_broker_port": None if args.bootstrap else args.port,
            "worker_cpus": _cpus(run.worker_cpus) if run.worker_cpus else None,
            "other_cpus": _cpus(run.other_cpus) if run.other_cpus else None,
            "worker_env": dict(args.worker_env),
            "silence_check_seconds": args.silence_check_seconds,
            "poll_seconds": POLL_SECONDS,
        },
        "machine": host,
        **run.results,
    }
    after = machine(kafka)
    if (after["git_commit"], after["streams_uncommitted_changes"]) != (
        host["git_commit"],
        host["streams_uncommitted_changes"],
    ):
        host["changed_during_run"] = {
            "git_commit": after["git_commit"],
            "streams_uncommitted_changes": after["streams_uncommitted_changes"],
        }
        say(
            "WARNING: the checkout changed during the run (commit or streams/): the workers "
            "started later may have run other code"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    _summary(run)
    say(f"\nresults: {args.output}")
    if markdown is not None:
        write_markdown(markdown, results)
        say(f"results table: {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
