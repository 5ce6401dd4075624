"""The `cx-streams` command: worker, generate, topics, watch."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from streams import __version__
from streams.scoring.scorecard import (
    DEFAULT_SCORECARD,
    DEFAULT_SCORECARD_TEXT,
    Scorecard,
    ScorecardError,
    parse_scorecard,
)
from streams.security import client_options
from streams.settings import Settings

__all__ = ["main"]

SETTINGS_HELP = """\
settings (environment variables):
  CX_KAFKA_BOOTSTRAP   Kafka brokers, host:port[,host:port] (default 127.0.0.1:9092)
  CX_WEB_PORT          HTTP port of the worker (default 6066)
  CX_APP_ID            consumer group / deployment name (default cx-streams)
  CX_TOPIC_INTERACTIONS, CX_TOPIC_CUSTOMERS, CX_TOPIC_SCORES, CX_TOPIC_ALERTS, CX_TOPIC_DLQ
                       topic names (defaults cx.interactions, cx.customers, cx.scores,
                       cx.alerts, cx.interactions.dlq)
  CX_STORE             memory (default) or rocksdb
  CX_PARTITIONS        partitions of the topics we create (default 8)
  CX_SCORECARD         TOML scorecard laid over the defaults (see: cx-streams scorecard)
  See README.md for the full list.
"""


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if error["loc"]:
                name = "CX_" + "_".join(str(part) for part in error["loc"]).upper()
                lines.append(f"  {name}: {error['msg']} (got {error.get('input')!r})")
            else:
                lines.append(f"  {error['msg'].removeprefix('Value error, ')}")
        sys.exit("cx-streams: invalid settings:\n" + "\n".join(lines))


def _kafka_unreachable(settings: Settings, exc: BaseException) -> str:
    return (
        f"cx-streams: cannot reach Kafka at {settings.kafka_bootstrap} ({type(exc).__name__}: "
        f"{exc}). Is the broker running? Start a local one with 'make kafka-up', or point "
        "CX_KAFKA_BOOTSTRAP at your cluster."
    )


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import ensure_topics

    settings = _settings()
    try:
        report = asyncio.run(ensure_topics(settings))
    except Exception as exc:
        sys.exit(_kafka_unreachable(settings, exc))
    for spec, status in report:
        policy = spec.config.get("cleanup.policy", "delete")
        print(
            f"{status:8} {spec.name:32} partitions={spec.partitions:<3} "
            f"cleanup={policy:8} {spec.purpose}"
        )
    return 0


def _scorecard(path: Path | None) -> Scorecard:
    if path is None:
        return DEFAULT_SCORECARD
    try:
        return parse_scorecard(path.read_text("utf-8"))
    except OSError as exc:
        sys.exit(f"cx-streams: cannot read the scorecard {path}: {exc.strerror}")
    except ScorecardError as exc:
        sys.exit(f"cx-streams: invalid scorecard {path}: {exc}")


def cmd_scorecard(args: argparse.Namespace) -> int:
    if args.check is None:
        print(DEFAULT_SCORECARD_TEXT, end="")
        return 0
    card = _scorecard(args.check)
    print(
        f"{args.check}: valid ({len(card.signals)} event types mapped, half-life "
        f"{card.half_life_seconds / 86400:g} days)"
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import faust

    from streams import logs, runtime
    from streams.app import create_processor
    from streams.topics import ensure_topics

    settings = _settings()
    card = _scorecard(settings.scorecard)
    if not args.no_create_topics:
        try:
            asyncio.run(ensure_topics(settings))
        except Exception as exc:
            sys.exit(_kafka_unreachable(settings, exc))
    processor = create_processor(settings, card)
    print(
        f"cx-streams {__version__}: reading {settings.topic_interactions} and "
        f"{settings.topic_customers} from {settings.kafka_bootstrap}; "
        f"http://{settings.web_host}:{settings.web_port}/customers/<id>, /at-risk, /metrics, "
        "/healthz",
        flush=True,
    )
    # aiokafka's errors while Kafka is down, aiohttp's parser errors: at most one line of a kind
    # per 10 s, no traceback. On the loggers, so it outlasts the Worker's own logging setup.
    logs.install()
    runtime.tune_worker_process()
    worker = faust.Worker(processor.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from streams.generator import GeneratorConfig, publish

    settings = _settings()
    config = GeneratorConfig(
        customers=args.customers,
        rate=args.rate,
        duration=args.duration,
        events=args.events,
        seed=args.seed,
        invalid_ratio=args.invalid_ratio,
        backfill_days=args.backfill_days,
    )
    started = time.monotonic()
    last = [0.0]

    def progress(sent: int, planned: int) -> None:
        if args.quiet:
            return
        elapsed = max(time.monotonic() - started, 1e-9)
        share = f" / {planned:,} ({100 * sent / planned:.0f}%)" if planned else ""
        print(
            f"\rgenerate: {sent:,}{share} events, {sent / elapsed:,.0f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )
        last[0] = elapsed

    try:
        report = asyncio.run(publish(settings, config, progress=progress))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except OSError as exc:
        sys.exit(_kafka_unreachable(settings, exc))
    if not args.quiet:
        print(file=sys.stderr)
    print(
        f"generate: published {report.profiles:,} profiles and {report.events:,} events "
        f"({report.invalid:,} deliberately invalid) in {report.seconds:.1f} s to "
        f"{settings.topic_interactions}"
    )
    return 0


def _describe_alert(alert: dict[str, Any]) -> str:
    previous = alert.get("previous_score")
    change = (
        f"{previous:.0f} -> {alert['score']:.0f}"
        if previous is not None
        else f"{alert['score']:.0f}"
    )
    lines = [
        f"[{alert['severity'].upper():8}] {alert['kind']:10} {alert['customer_id']}  "
        f"score {change} ({alert['band']})  at {alert['raised_at']}"
    ]
    for driver in alert.get("drivers", [])[:3]:
        lines.append(f"    {driver['impact']:+6.1f}  {driver['reason']}  [{driver['event_id']}]")
    lines.append(f"    -> {alert['recommended_action']}")
    return "\n".join(lines)


async def _watch(settings: Settings, from_beginning: bool, as_json: bool) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        **client_options(settings),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        async for message in consumer:
            if message.value is None:
                continue
            if as_json:
                print(message.value.decode(), flush=True)
                continue
            try:
                print(_describe_alert(orjson.loads(message.value)), flush=True)
            except (orjson.JSONDecodeError, KeyError, TypeError):
                print(f"(unreadable alert at offset {message.offset})", flush=True)
    finally:
        await consumer.stop()


def cmd_watch(args: argparse.Namespace) -> int:
    settings = _settings()
    print(
        f"watching {settings.topic_alerts} on {settings.kafka_bootstrap} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    try:
        asyncio.run(_watch(settings, args.from_beginning, args.json))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        sys.exit(_kafka_unreachable(settings, exc))
    return 0


def cmd_forward(args: argparse.Namespace) -> int:
    from streams.forwarder import ForwardConfig, ForwardReport, forward

    settings = _settings()
    if not args.url.startswith(("http://", "https://")):
        sys.exit(f"cx-streams: --url must be an http:// or https:// URL, got {args.url!r}")
    config = ForwardConfig(
        url=args.url,
        timeout=args.timeout,
        max_attempts=args.max_attempts,
        dead_letter_file=args.dead_letter_file,
        from_beginning=args.from_beginning,
    )
    logging.basicConfig(level=logging.INFO, format="forward: %(message)s")

    def progress(report: ForwardReport) -> None:
        print(
            f"\rforward: {report.delivered:,} delivered, {report.dead_lettered:,} to "
            f"{config.dead_letter_file}, {report.retries:,} retries",
            end="",
            file=sys.stderr,
            flush=True,
        )

    print(f"forwarding {settings.topic_alerts} to {args.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        asyncio.run(forward(settings, config, progress=None if args.quiet else progress))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 0
    except OSError as exc:
        sys.exit(_kafka_unreachable(settings, exc))
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from streams.contract import ERROR_CODES, parse_time
    from streams.replay import replay

    settings = _settings()
    errors = frozenset(args.error) if args.error else None
    if errors and not errors <= set(ERROR_CODES):
        sys.exit(
            f"cx-streams: unknown error code(s) {sorted(errors - set(ERROR_CODES))}; "
            f"known: {', '.join(ERROR_CODES)}"
        )
    since = None
    if args.since is not None:
        since = parse_time(args.since)
        if since is None:
            sys.exit(
                f"cx-streams: --since {args.since!r} is not an RFC 3339 date-time "
                "(e.g. 2026-11-24T08:00:00Z)"
            )

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            share = f" ({100 * done / total:.0f}%)" if total else ""
            print(
                f"\rreplay: {done:,} / {total:,} dead-letter records read{share}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    try:
        report = asyncio.run(
            replay(settings, errors=errors, since=since, dry_run=args.dry_run, progress=progress)
        )
    except OSError as exc:
        sys.exit(_kafka_unreachable(settings, exc))
    if not args.quiet:
        print(file=sys.stderr)
    verb = "would re-publish" if args.dry_run else "re-published"
    print(f"replay: {verb} {report.replayed:,} of {report.scanned:,} dead-letter records")
    for why, count in sorted(report.skipped.items()):
        print(f"  skipped {count:,}: {why}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cx-streams",
        description="Live customer-experience scores and churn alerts from Kafka interaction "
        "events.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SETTINGS_HELP + "\nexamples:\n  cx-streams topics\n  cx-streams worker\n"
        "  cx-streams generate --customers 500 --rate 50 --duration 60\n  cx-streams watch\n",
    )
    parser.add_argument("--version", action="version", version=f"cx-streams {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, examples: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="examples:\n" + examples + "\n" + SETTINGS_HELP,
        )

    worker = command(
        "worker",
        "Run the stream processor (validate, score, alert, serve HTTP).",
        "  cx-streams worker\n  CX_WEB_PORT=6067 CX_STORE=rocksdb cx-streams worker\n",
    )
    worker.add_argument(
        "--no-create-topics",
        action="store_true",
        help="do not create missing topics at start (they must exist)",
    )
    worker.set_defaults(run=cmd_worker)

    topics = command(
        "topics",
        "Create the topics that do not exist yet, and list them all.",
        "  cx-streams topics\n  CX_PARTITIONS=24 CX_REPLICATION_FACTOR=3 cx-streams topics\n",
    )
    topics.set_defaults(run=cmd_topics)

    generate = command(
        "generate",
        "Publish synthetic, realistic customer journeys (profiles, then events).",
        "  cx-streams generate --customers 200 --rate 20 --duration 120\n"
        "  cx-streams generate --customers 100000 --events 1000000 --rate 0 --backfill-days 30\n"
        "  cx-streams generate --invalid-ratio 0.02   # include some malformed messages\n",
    )
    generate.add_argument(
        "--customers", type=positive_int, default=200, help="number of customers (default 200)"
    )
    generate.add_argument(
        "--rate",
        type=non_negative_float,
        default=50.0,
        help="events per second; 0 = as fast as possible (default 50)",
    )
    generate.add_argument(
        "--duration",
        type=non_negative_float,
        default=None,
        help="seconds to run (default: until --events, else until Ctrl-C)",
    )
    generate.add_argument(
        "--events", type=positive_int, default=None, help="stop after this many events"
    )
    generate.add_argument(
        "--seed",
        type=int,
        default=7,
        help="random seed: the same seed gives the same journeys (default 7)",
    )
    generate.add_argument(
        "--invalid-ratio",
        type=ratio,
        default=0.0,
        help="share of deliberately malformed messages, 0-1 (default 0)",
    )
    generate.add_argument(
        "--backfill-days",
        type=non_negative_float,
        default=0.0,
        help="spread event times over the last N days instead of now",
    )
    generate.add_argument("--quiet", action="store_true", help="no progress line")
    generate.set_defaults(run=cmd_generate)

    scorecard = command(
        "scorecard",
        "Print the default scorecard (to copy and edit), or check one.",
        "  cx-streams scorecard > my-scorecard.toml\n"
        "  cx-streams scorecard --check my-scorecard.toml\n"
        "  CX_SCORECARD=my-scorecard.toml cx-streams worker\n",
    )
    scorecard.add_argument(
        "--check",
        type=Path,
        metavar="FILE",
        help="check FILE and say what is wrong, naming the key",
    )
    scorecard.set_defaults(run=cmd_scorecard)

    forward = command(
        "forward",
        "Post every alert to a webhook (JSON), with retries and backoff.",
        "  cx-streams forward --url https://crm.example.com/hooks/churn\n"
        "  cx-streams forward --url http://127.0.0.1:8080/alerts --from-beginning\n",
    )
    forward.add_argument("--url", required=True, help="where to POST each alert (JSON body)")
    forward.add_argument(
        "--timeout", type=non_negative_float, default=10.0, help="seconds per attempt (default 10)"
    )
    forward.add_argument(
        "--max-attempts",
        type=positive_int,
        default=6,
        help="attempts before an alert goes to the dead-letter file (default 6)",
    )
    forward.add_argument(
        "--dead-letter-file",
        type=Path,
        default=Path("var/forward-dead-letters.jsonl"),
        help="JSON lines of alerts that could not be delivered "
        "(default var/forward-dead-letters.jsonl)",
    )
    forward.add_argument(
        "--from-beginning",
        action="store_true",
        help="on first start, forward the alerts already on the topic too",
    )
    forward.add_argument("--quiet", action="store_true", help="no progress line")
    forward.set_defaults(run=cmd_forward)

    dlq = commands.add_parser(
        "dlq",
        help="Work with the dead-letter topic.",
        description="Work with the dead-letter topic.",
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    replay = dlq_commands.add_parser(
        "replay",
        help="Re-publish dead-letter records to the topic they came from (after a fix).",
        description="Re-publish the original messages of dead-letter records to the topic they "
        "came from, keys and headers included. Reads what is on the dead-letter topic when it "
        "starts; records whose payload was cut are never replayed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  cx-streams dlq replay --dry-run\n"
        "  cx-streams dlq replay --error schema_violation --error bad_timestamp\n"
        "  cx-streams dlq replay --since 2026-11-24T08:00:00Z\n\n" + SETTINGS_HELP,
    )
    replay.add_argument(
        "--error",
        action="append",
        metavar="CODE",
        help="only records with this error code (repeatable)",
    )
    replay.add_argument(
        "--since", metavar="TIME", help="only records received at or after this RFC 3339 time"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="count what would be re-published, publish nothing"
    )
    replay.add_argument("--quiet", action="store_true", help="no progress line")
    replay.set_defaults(run=cmd_dlq_replay)

    watch = command(
        "watch",
        "Print alerts as they are raised, with their drivers and action.",
        "  cx-streams watch\n  cx-streams watch --from-beginning --json | jq .\n",
    )
    watch.add_argument(
        "--from-beginning",
        action="store_true",
        help="start from the oldest alert instead of new ones",
    )
    watch.add_argument("--json", action="store_true", help="print raw alert JSON, one per line")
    watch.set_defaults(run=cmd_watch)
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Faust's worker reads sys.argv: leave it only the program name.
    sys.argv = sys.argv[:1]
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
