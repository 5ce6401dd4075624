"""Alert delivery beyond Kafka: POST each alert to a webhook, with retries and backoff.

An alert is committed on the alerts topic only once it is delivered or, after the last retry
or a permanent refusal (a 4xx other than 408 and 429), written to a dead-letter file: nothing
is lost, and a restarted forwarder resumes where it stopped. Receivers can drop duplicates by
the `Idempotency-Key` header (the alert's deterministic `alert_id`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.scoring.interaction import format_time
from streams.security import client_options
from streams.settings import Settings

__all__ = ["ForwardConfig", "ForwardReport", "forward"]

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    url: str
    timeout: float = 10.0
    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    dead_letter_file: Path = Path("var/forward-dead-letters.jsonl")
    from_beginning: bool = False
    stop_after: int | None = None  # alerts handled (delivered or dead-lettered); for tests


@dataclass(slots=True)
class ForwardReport:
    delivered: int = 0
    dead_lettered: int = 0
    retries: int = 0


class _Permanent(Exception):
    """The receiver refused the alert for good (a 4xx other than 408 and 429)."""


async def _post_once(session: aiohttp.ClientSession, url: str, body: bytes, alert_id: str) -> None:
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": alert_id,
        "User-Agent": "cx-streams-forwarder",
    }
    async with session.post(url, data=body, headers=headers) as response:
        if 200 <= response.status < 300:
            return
        text = (await response.text())[:200]
        if response.status in RETRYABLE_STATUS:
            raise aiohttp.ClientResponseError(
                response.request_info, (), status=response.status, message=text
            )
        raise _Permanent(f"HTTP {response.status}: {text}")


async def _deliver(
    session: aiohttp.ClientSession,
    config: ForwardConfig,
    body: bytes,
    alert_id: str,
    report: ForwardReport,
    rng: random.Random,
) -> str | None:
    """Deliver one alert; None when delivered, else why it could not be."""
    delay = config.backoff_initial
    for attempt in range(1, config.max_attempts + 1):
        try:
            await _post_once(session, config.url, body, alert_id)
            return None
        except _Permanent as refused:
            return str(refused)
        except (TimeoutError, aiohttp.ClientError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if attempt == config.max_attempts:
                return f"gave up after {attempt} attempts; last: {problem}"
            report.retries += 1
            log.warning(
                "alert %s: attempt %d failed (%s); retrying in %.1f s",
                alert_id,
                attempt,
                problem,
                delay,
            )
            await asyncio.sleep(delay * (0.5 + rng.random()))  # jitter spreads retries
            delay = min(delay * 2, config.backoff_max)
    return "no attempt made"


def _dead_letter(path: Path, body: bytes, problem: str, offset: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        alert = orjson.loads(body)
    except orjson.JSONDecodeError:
        alert = body.decode("utf-8", "replace")
    line = {
        "alert": alert,
        "error": problem,
        "offset": offset,
        "failed_at": format_time(time.time()),
    }
    with path.open("ab") as file:
        file.write(orjson.dumps(line) + b"\n")


async def forward(
    settings: Settings,
    config: ForwardConfig,
    *,
    progress: Callable[[ForwardReport], None] | None = None,
) -> ForwardReport:
    """Forward alerts until cancelled (or `stop_after` alerts)."""
    consumer = AIOKafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        **client_options(settings),
        group_id=f"{settings.app_id}-forwarder",
        enable_auto_commit=False,
        auto_offset_reset="earliest" if config.from_beginning else "latest",
    )
    report = ForwardReport()
    rng = random.Random()
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    await consumer.start()
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async for message in consumer:
                if message.value is None:
                    continue
                alert_id = _alert_id(message.value)
                problem = await _deliver(session, config, message.value, alert_id, report, rng)
                if problem is None:
                    report.delivered += 1
                else:
                    log.error(
                        "alert %s not delivered: %s (written to %s)",
                        alert_id,
                        problem,
                        config.dead_letter_file,
                    )
                    _dead_letter(config.dead_letter_file, message.value, problem, message.offset)
                    report.dead_lettered += 1
                tp = TopicPartition(message.topic, message.partition)
                await consumer.commit({tp: message.offset + 1})
                if progress is not None:
                    progress(report)
                handled = report.delivered + report.dead_lettered
                if config.stop_after is not None and handled >= config.stop_after:
                    break
    finally:
        await consumer.stop()
    return report


def _alert_id(value: bytes) -> str:
    try:
        alert_id = orjson.loads(value).get("alert_id")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return str(alert_id) if alert_id else "unknown"
