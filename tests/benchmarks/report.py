"""The machine a run was made on, the targets it is judged against, and BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from tests.benchmarks.procs import ROOT

__all__ = ["judge", "machine", "render_markdown", "write_markdown"]

BEGIN: Final = "<!-- bench:results:begin (written by `make bench`; edit above or below) -->"
END: Final = "<!-- bench:results:end -->"
#: what we read "flat" as: RSS at the target count at most this times RSS at 10 % of it
FLAT_RATIO: Final = 1.25

INTRO: Final = """\
# Benchmarks

`make bench` measures, in one run against one Kafka broker of its own (started on
127.0.0.1:19400 and deleted afterwards):

0. **Idle worker**: the RSS of a ready worker with nothing to read, a baseline.
1. **Raw ceiling**: one Python process, pinned to one core, reads the whole preloaded
   interactions topic with an `AIOKafkaConsumer` (`getmany` batches), parses each value with
   `orjson.loads` and bumps a per-customer counter, and nothing else. Events/s from its first
   fetch to its last record (see below).
2. **Stages**: the same worker as below, with its handling of each record cut short, reads
   the same topic twice, each time as a new consumer group: after its intake (Faust's consumer
   group, the batch intake, acknowledgements and commits: a record is only counted), then
   after the event contract as well (each record parsed and checked, an `Interaction` built).
   Profiles are left alone. Events/s from the first record handled to the last, by the
   worker's clock (`tests/benchmarks/stage_worker.py`). Its consumer may have fetched ahead
   before the first record reached the handler (some MiB at most), so in a small run the
   intake can read faster than the raw ceiling. With the full processor's figure they say
   where the time per event goes.
3. **Full processor**: a real `cx-streams worker` (in-memory store), pinned to the same single
   core, reads the same preloaded topics (1,000,000 events over 100,000 customers from the
   journey generator with a fixed seed and clock, 30 days of backfill, 0.1 % malformed
   messages, 5 % unkeyed, plus the 100,000 profiles). Events/s from its first `/healthz` 200 to
   the `/metrics` poll (every 0.5 s) at which every input message is accounted for
   (`cx_events_total` over all outcomes, dead-lettered included; profiles by `cx_profiles_total` and `cx_invalid_events_total`). Peak RSS
   (VmHWM), RSS over time, and RSS per tracked customer =
   (RSS at the end - RSS at readiness) / customers added meanwhile (`cx_customers_tracked`).
4. **Latency at half the maximum rate**: the same worker gets fresh live events at half the
   rate it just reached, for 60 s, from a few thousand new customers whose personas slide into
   alerts. Latency = the alert's Kafka record timestamp (CreateTime: set by the worker's
   producer when it sends the alert) - the wall-clock time the benchmark sent the triggering
   event (`trigger_event_id`); timer-raised `silent` alerts are left out.
5. **Restore**: the worker is stopped (SIGTERM) and a fresh one with the same app id and an
   empty data directory restores every customer from the changelog. Seconds from process
   start to `/healthz` 200 with `"recovered": true` (set once the table is recovered and the
   customer index rebuilt: the log line "customer index rebuilt: N customers").
6. **RocksDB**: a separate worker with `CX_STORE=rocksdb` on its own topics, preloaded with
   one event for each of 1,000,000 distinct customers; RSS each time `cx_customers_tracked`
   passes another 10 % of them. Flatness = RSS at the end / RSS at 10 %.

The broker, the load generator and the benchmark itself run on the other cores
(`taskset`), so the worker's core is its own; the results say how busy that core was and how
much of it was the worker (`cpu`), and the run warns when something else used it. The
workers run with `CX_SILENCE_CHECK_SECONDS=3600`: the preload's event times are weeks before
the live ones, and a silence sweep over every backfilled customer in the middle of the
latency phase would measure that sweep instead. Nothing here asserts a speed: the figures are
recorded, and the targets below are judged in words. The full run takes a while (the
processor's speed decides how long); `make bench-smoke` runs the same phases at tiny sizes
and writes to a temporary file, and `tests/benchmarks/test_bench_smoke.py` runs that in
`make test` to check the benchmark itself works (never how fast).

Reading the figures:

- RSS per tracked customer counts everything the worker's memory grew by while it read the
  backlog: the customers' state, and also its input and output buffers, which do not grow
  with customers. With few customers the buffers dominate (in development runs they took
  about 25-30 MiB, some 300 bytes per customer at 100,000), and the RSS at ready already
  holds some of them (the worker fetches as soon as it is ready). The restored worker's
  figure (its RSS at ready minus that of an idle worker with nothing to read, over the
  customers it restored) is the state without those buffers.
- Targets about a size (1,000,000 RocksDB customers, 100,000 restored customers) are judged
  only in a run of that size; smaller runs say "not judged" and show what they measured.
- The raw ceiling's clock starts once its consumer has started (connected, metadata in),
  just before its first fetch, not when the first records arrive: one fetch brings up to
  1 MiB per partition, most of a small topic, and leaving it out made small runs' ceilings
  several times too high. It still runs from the first record to the last in the sense that
  matters: no connection set-up is counted.
- RocksDB: Faust's defaults give each partition's database 3 write buffers of 64 MiB and a
  block cache of up to 2 GiB, so RSS can grow a long way before it levels off; a small run's
  growth per customer is a straight line, not a forecast.

```sh
make bench                                   # the full run: results.json and this file
make bench BENCH_ARGS="--skip-rocksdb"       # any option of the script, see --help
.venv/bin/python -m tests.benchmarks.bench --help
```

Raw results, with every parameter and the machine: [`tests/benchmarks/results.json`](tests/benchmarks/results.json).
"""


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine(kafka: str | None) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, package versions and the git commit of this checkout."""
    cpu = next(
        (
            line.partition(":")[2].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    os_name = next(
        (
            line.partition("=")[2].strip().strip('"')
            for line in _read("/etc/os-release").splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    changed = sorted(
        {
            *_git("diff", "--name-only", "HEAD", "--", "streams").splitlines(),
            *_git("ls-files", "--others", "--exclude-standard", "--", "streams").splitlines(),
        }
    )
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_bytes": mem_kib * 1024,
        "os": f"{os_name}, {platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "kafka": kafka,
        "packages": {
            name: _version(name)
            for name in ("cx-streams", "faust-streaming", "aiokafka", "orjson", "rocksdict")
        },
        "git_commit": _git("rev-parse", "HEAD") or None,
        "git_branch": _git("rev-parse", "--abbrev-ref", "HEAD") or None,
        "streams_uncommitted_changes": changed,
    }


def _target(
    name: str, target: str, measured: str, met: bool | None, note: str = ""
) -> dict[str, Any]:
    verdict = "met" if met else "missed" if met is not None else "not judged"
    return {
        "name": name,
        "target": target,
        "measured": measured,
        "met": met,
        "verdict": verdict,
        "note": note,
    }


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue next to what this run measured: met, missed or not judged
    (when the run was smaller than the size the target is about)."""
    out = []
    full = results["full"]
    percent = full["percent_of_raw"]
    budget = 1e6 / (0.1 * results["raw"]["events_per_second"])
    note = "stretch met" if percent >= 25 else "stretch missed"
    if percent < 10:
        note += (
            f"; 10 % leaves {budget:,.1f} µs per event for everything, the full processor "
            f"takes {1e6 / full['events_per_second']:,.1f}"
        )
    out.append(
        _target(
            "Full pipeline throughput, share of the raw ceiling",
            ">= 10 % (stretch: 25 %)",
            f"{_percent(percent)} ({full['events_per_second']:,.0f} of "
            f"{results['raw']['events_per_second']:,.0f} events/s)",
            percent >= 10,
            note,
        )
    )
    latency = results["latency"]["latency_ms"]
    count = int(latency.get("count", 0))
    out.append(
        _target(
            "p99 event-to-alert latency at half the maximum rate",
            "< 1 s",
            f"{latency['p99']:,.0f} ms over {count:,} alerts" if count else "no alert came back",
            latency["p99"] < 1000 if count else None,
            f"at {results['latency']['rate_achieved']:,.0f} events/s",
        )
    )
    per_customer = full["rss_per_customer_bytes"]
    customers = full["customers_added"]
    out.append(
        _target(
            "RSS per tracked customer, in-memory store",
            "< 2 KiB",
            f"{per_customer / 1024:,.2f} KiB ({per_customer:,.0f} bytes)"
            if per_customer is not None
            else "no customer added",
            per_customer < 2048 if per_customer is not None else None,
            f"over {customers:,} customers",
        )
    )
    rocks = results.get("rocksdb")
    if rocks is None:
        out.append(
            _target(
                "RocksDB: RSS flat up to 1,000,000 customers",
                f"RSS at the end <= {FLAT_RATIO:g} x RSS at 10 %",
                "skipped",
                None,
            )
        )
    else:
        ratio = rocks["flatness"]
        size = rocks["customers_tracked"]
        at_size = rocks["customers_target"] >= 1_000_000 and size >= 1_000_000
        measured = (
            f"x{ratio:.2f} ({rocks['rss_at_10_percent_bytes'] / 2**20:,.0f} -> "
            f"{rocks['rss_end_bytes'] / 2**20:,.0f} MiB) over {size:,} customers"
            if ratio is not None
            else "no series"
        )
        out.append(
            _target(
                "RocksDB: RSS flat up to 1,000,000 customers",
                f"RSS at the end <= {FLAT_RATIO:g} x RSS at 10 %",
                measured,
                (ratio <= FLAT_RATIO) if (at_size and ratio is not None) else None,
                ""
                if at_size
                else f"the run had {size:,} customers, not 1,000,000"
                + (
                    f"; RSS grew {rocks['rss_growth_per_customer_bytes']:,.0f} bytes per "
                    "customer from 10 % on; a straight line (not a forecast) would reach "
                    f"{rocks['rss_projected_1m_bytes'] / 2**20:,.0f} MiB at 1,000,000"
                    if rocks.get("rss_projected_1m_bytes")
                    else ""
                ),
            )
        )
    restore = results["restore"]
    restored = restore["customers_restored"]
    at_size = restored >= 100_000
    out.append(
        _target(
            "Restore 100,000 customers from the changelog",
            "< 30 s",
            f"{restore['seconds']:.1f} s for {restored:,} customers",
            restore["seconds"] < 30 if at_size else None,
            "" if at_size else f"the run restored {restored:,} customers, not 100,000",
        )
    )
    return out


def _percent(value: float) -> str:
    return f"{value:.1f} %" if value >= 1 else f"{value:.2f} %"


def _mib(value: float | None) -> str:
    return f"{value / 2**20:,.0f} MiB" if value is not None else "-"


_STAGE_NAMES: Final = {
    "intake": "Worker cut short after its intake (1 core)",
    "contract": "Worker cut short after the event contract (1 core)",
}


def _stage_rows(results: dict[str, Any]) -> list[str]:
    """A row per stage of the worker, then what the work after the last stage takes."""
    stages = results.get("stages") or {}
    rows = [
        f"| {_STAGE_NAMES.get(name, name)} | {st['events_per_second']:,.0f} events/s = "
        f"{_percent(st['percent_of_raw'])} of the raw ceiling, "
        f"{st['microseconds_per_event']:,.1f} µs per event |"
        for name, st in stages.items()
    ]
    if stages:
        last = list(stages.values())[-1]
        rest = 1e6 / results["full"]["events_per_second"] - last["microseconds_per_event"]
        rows.append(
            "| Scoring, state and output (the full processor's time per event minus the last "
            f"stage's) | {rest:,.1f} µs per event |"
        )
    return rows


def render_markdown(results: dict[str, Any]) -> str:
    """The results section of BENCHMARKS.md."""
    m = results["machine"]
    p = results["parameters"]
    full, raw, lat, restore = (
        results["full"],
        results["raw"],
        results["latency"],
        results["restore"],
    )
    ms = lat["latency_ms"]
    lines = [
        BEGIN,
        "",
        f"## Latest results ({results['date'][:10]})",
        "",
        f"Command: `{results['command']}` ({results['duration_seconds'] / 60:.0f} min)",
        "",
        f"Sizes: {p['events']:,} events over {p['customers']:,} customers "
        f"({100 * p['invalid_ratio']:g} % malformed, seed {p['seed']}, {p['partitions']} "
        "partitions); "
        f"latency phase {p['latency_seconds']:g} s over {lat['customers']:,} customers; "
        + (
            f"RocksDB {p['rocksdb_customers']:,} customers."
            if not p["skip_rocksdb"]
            else "RocksDB skipped."
        ),
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_bytes'] / 2**30:.0f} GiB RAM; "
        f"{m['os']}; Python {m['python']}; Kafka {m['kafka'] or 'unknown'}; "
        f"faust-streaming {m['packages'].get('faust-streaming')}, "
        f"aiokafka {m['packages'].get('aiokafka')}; commit "
        f"`{(m['git_commit'] or 'unknown')[:12]}`"
        + (
            f" with uncommitted changes in {', '.join(m['streams_uncommitted_changes'])}"
            if m["streams_uncommitted_changes"]
            else ""
        )
        + f". Worker pinned to CPU {p['worker_cpus'] or 'none (not pinned)'}.",
        "",
        "| Measure | Result |",
        "| --- | --- |",
        f"| Preload (generator -> broker) | {results['preload']['messages_per_second']:,.0f} "
        "messages/s |",
        f"| Raw ceiling (1 core) | {raw['events_per_second']:,.0f} events/s |",
        *_stage_rows(results),
        f"| Full processor (1 core, memory store) | {full['events_per_second']:,.0f} events/s "
        f"= {_percent(full['percent_of_raw'])} of the raw ceiling, "
        f"{1e6 / full['events_per_second']:,.1f} µs per event |",
        f"| Worker start, empty state, to ready | {full['startup_seconds']:.1f} s |",
        f"| Peak RSS (VmHWM) | {_mib(full['rss_peak_bytes'])} |",
        f"| RSS at ready -> at the end | {_mib(full['rss_ready_bytes'])} -> "
        f"{_mib(full['rss_end_bytes'])} |",
        f"| RSS of an idle worker (ready, nothing to read) | "
        f"{_mib(results['idle']['rss_bytes'])} |",
        f"| Customers tracked | {full['customers_tracked']:,} |",
        "| RSS per tracked customer | "
        + (
            f"{full['rss_per_customer_bytes']:,.0f} bytes = "
            f"{full['rss_per_customer_kib']:.2f} KiB |"
            if full["rss_per_customer_bytes"] is not None
            else "- |"
        ),
        "| RSS per tracked customer, from an idle worker's RSS instead of the RSS at ready | "
        + (
            f"{full['rss_per_customer_over_idle_bytes']:,.0f} bytes = "
            f"{full['rss_per_customer_over_idle_bytes'] / 1024:.2f} KiB |"
            if full.get("rss_per_customer_over_idle_bytes") is not None
            else "- |"
        ),
        f"| Latency phase rate (target: half of full) | {lat['rate_achieved']:,.0f} events/s "
        f"(target {lat['rate_target']:,.0f}) |",
        f"| Event-to-alert latency (record timestamp), {int(ms.get('count', 0)):,} alerts | "
        + (
            f"p50 {ms['p50']:,.0f} ms, p90 {ms['p90']:,.0f} ms, p99 {ms['p99']:,.0f} ms, "
            f"max {ms['max']:,.0f} ms |"
            if ms.get("count")
            else "no alert |"
        ),
        f"| Restore from the changelog | {restore['seconds']:.1f} s for "
        f"{restore['customers_restored']:,} customers (an empty worker starts in "
        f"{restore['startup_seconds_empty_state']:.1f} s) |",
    ]
    restored_per_customer = restore.get("rss_per_customer_restored_bytes")
    if restored_per_customer is not None:
        lines.append(
            "| RSS per customer of the restored worker (state without input buffers: its RSS "
            f"at ready - an idle worker's) | {restored_per_customer:,.0f} bytes = "
            f"{restored_per_customer / 1024:.2f} KiB |"
        )
    rocks = results.get("rocksdb")
    if rocks is not None:
        lines.append(
            f"| RocksDB worker (1 core) | {rocks['events_per_second']:,.0f} events/s, "
            f"{rocks['customers_tracked']:,} customers, RSS x{rocks['flatness']:.2f} "
            f"from 10 % to 100 % ({rocks['rss_growth_per_customer_bytes'] or 0:+,.0f} bytes "
            "per customer) |"
            if rocks["flatness"] is not None
            else "| RocksDB worker | no series |"
        )
    lines += [
        "",
        "### Targets",
        "",
        "| Target | Wanted | Measured | Verdict |",
        "| --- | --- | --- | --- |",
    ]
    for t in results["targets"]:
        verdict = {"met": "**met**", "missed": "**missed**"}.get(t["verdict"], t["verdict"])
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"| {t['name']} | {t['target']} | {t['measured']} | {verdict}{note} |")
    if rocks is not None and rocks["series"]:
        lines += [
            "",
            "### RocksDB: RSS as customers grow",
            "",
            "| Share | Customers tracked | RSS | Peak RSS | Seconds since ready |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in rocks["series"]:
            lines.append(
                f"| {s['percent']} % | {s['customers']:,} | {_mib(s['rss_bytes'])} | "
                f"{_mib(s['peak_bytes'])} | {s['seconds']:.0f} |"
            )
    lines += ["", END, ""]
    return "\n".join(lines)


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    """Replace the results section of `path` (or write the file with its introduction)."""
    section = render_markdown(results)
    text = path.read_text() if path.exists() else INTRO + "\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
