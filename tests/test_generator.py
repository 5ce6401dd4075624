from collections import Counter
from datetime import UTC, datetime

import orjson

from streams.contract import Rejection, parse_interaction, parse_profile
from streams.generator import GeneratorConfig, JourneyGenerator, profiles

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def messages(config: GeneratorConfig, n: int) -> list[tuple[bytes | None, bytes]]:
    generator = JourneyGenerator(config, START)
    return [generator.next_message(START) for _ in range(n)]


def test_the_same_seed_gives_the_same_messages() -> None:
    config = GeneratorConfig(customers=50, seed=3)
    assert messages(config, 500) == messages(config, 500)
    assert messages(config, 500) != messages(GeneratorConfig(customers=50, seed=4), 500)


def test_every_message_passes_the_contract() -> None:
    config = GeneratorConfig(customers=100, backfill_days=30)
    now = START.timestamp()
    seen_types = Counter()
    for key, value in messages(config, 3000):
        result = parse_interaction(value, key, now=now, max_bytes=65536, future_skew=300)
        assert not isinstance(result, Rejection), (result, value)
        seen_types[result[1].type] += 1
    assert {"purchase", "complaint", "nps_response", "ticket_resolved"} <= set(seen_types)


def test_profiles_pass_the_contract() -> None:
    config = GeneratorConfig(customers=30)
    for profile in profiles(config):
        result = parse_profile(
            orjson.dumps(profile), profile["customer_id"].encode(), max_bytes=65536
        )
        assert not isinstance(result, Rejection), result
    tiers = {p["tier"] for p in profiles(GeneratorConfig(customers=300))}
    assert "platinum" in tiers


def test_invalid_ratio_makes_that_share_malformed() -> None:
    config = GeneratorConfig(customers=50, invalid_ratio=0.1)
    now = START.timestamp()
    rejected = Counter()
    for key, value in messages(config, 2000):
        result = parse_interaction(value, key, now=now, max_bytes=65536, future_skew=300)
        if isinstance(result, Rejection):
            rejected[result.error] += 1
    assert 120 < sum(rejected.values()) < 280
    assert {"invalid_json", "invalid_utf8", "schema_violation", "bad_timestamp"} <= set(rejected)
    clean = GeneratorConfig(customers=50)
    assert all(
        not isinstance(
            parse_interaction(v, k, now=now, max_bytes=65536, future_skew=300), Rejection
        )
        for k, v in messages(clean, 500)
    )


def test_backfill_times_rise_within_the_window() -> None:
    config = GeneratorConfig(customers=20, backfill_days=10, events=400)
    times = [orjson.loads(v)["occurred_at"] for _, v in messages(config, 400)]
    assert times == sorted(times)
    assert times[0] >= "2026-11-14" and times[-1] <= "2026-11-24T12:00:00.000Z"


def test_tickets_open_before_they_resolve() -> None:
    opened: set[tuple[str, str]] = set()
    for _, value in messages(GeneratorConfig(customers=40), 4000):
        event = orjson.loads(value)
        ticket = (event["customer_id"], event.get("ticket_id", ""))
        if event["type"] == "ticket_opened":
            opened.add(ticket)
        elif event["type"] in ("ticket_resolved", "ticket_reopened"):
            assert ticket in opened


def test_some_messages_are_unkeyed() -> None:
    keys = [k for k, _ in messages(GeneratorConfig(customers=50, unkeyed_ratio=0.2), 1000)]
    assert 120 < sum(k is None for k in keys) < 280
