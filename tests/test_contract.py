import time

import orjson
import pytest

from streams.contract import Rejection, parse_interaction, parse_profile

NOW = time.time()
GOOD = {
    "event_id": "evt-1",
    "customer_id": "C-10042",
    "occurred_at": "2026-11-20T09:30:00.000Z",
    "type": "ticket_opened",
    "channel": "chat",
    "ticket_id": "T-88",
}


def parse(body: object, key: bytes | None = None, raw: bytes | None = None) -> object:
    value = raw if raw is not None else orjson.dumps(body)
    return parse_interaction(value, key, now=NOW, max_bytes=65536, future_skew=300)


def code(result: object) -> str:
    assert isinstance(result, Rejection), result
    return result.error


def test_a_valid_event_is_enriched() -> None:
    result = parse(GOOD, key=b"C-10042")
    assert not isinstance(result, Rejection)
    body, event = result
    assert body == GOOD
    assert event.stage == "usage"  # derived from the type
    assert event.interaction == "direct"  # derived from the channel
    assert event.environment == "digital"
    assert event.occurred_at == 1795167000.0


def test_indirect_and_physical_channels() -> None:
    result = parse({**GOOD, "type": "review", "rating": 2, "channel": "review_site"})
    assert not isinstance(result, Rejection)
    assert result[1].interaction == "indirect"
    result = parse({**GOOD, "type": "store_visit", "channel": "store"})
    assert not isinstance(result, Rejection)
    assert result[1].environment == "physical"


def test_unknown_types_are_accepted() -> None:
    assert not isinstance(parse({**GOOD, "type": "hologram_beamed"}), Rejection)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{nope", "invalid_json"),
        (b"\xc3\x28", "invalid_utf8"),
        (b"[]", "schema_violation"),
        (b'"a string"', "schema_violation"),
        (b"x" * 70_000, "too_large"),
    ],
)
def test_bad_bytes(raw: bytes, expected: str) -> None:
    assert code(parse(None, raw=raw)) == expected


@pytest.mark.parametrize(
    ("change", "expected", "path"),
    [
        ({"nps": 11, "type": "nps_response"}, "schema_violation", "/nps"),
        ({"csat": 0}, "schema_violation", "/csat"),
        ({"ces": 8}, "schema_violation", "/ces"),
        ({"amount": "12"}, "schema_violation", "/amount"),
        ({"channel": "carrier_pigeon"}, "schema_violation", "/channel"),
        ({"surprise": 1}, "schema_violation", ""),
        ({"occurred_at": "yesterday"}, "bad_timestamp", "/occurred_at"),
        ({"occurred_at": "2026-11-20"}, "bad_timestamp", "/occurred_at"),
        ({"occurred_at": "2026-11-20T09:30:00"}, "bad_timestamp", "/occurred_at"),
        ({"occurred_at": "1969-12-31T23:59:59Z"}, "bad_timestamp", "/occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "bad_timestamp", "/occurred_at"),
    ],
)
def test_bad_fields(change: dict[str, object], expected: str, path: str) -> None:
    result = parse({**GOOD, **change})
    assert code(result) == expected
    assert isinstance(result, Rejection) and result.path is not None
    assert result.path.startswith(path)
    assert result.detail


def test_missing_required_field_names_it() -> None:
    result = parse({k: v for k, v in GOOD.items() if k != "event_id"})
    assert code(result) == "schema_violation"
    assert isinstance(result, Rejection) and "event_id" in result.detail


def test_key_must_match_the_customer() -> None:
    assert code(parse(GOOD, key=b"C-99")) == "key_mismatch"
    assert code(parse(GOOD, key=b"")) == "key_mismatch"
    assert not isinstance(parse(GOOD, key=None), Rejection)


def test_profiles() -> None:
    ok = parse_profile(
        orjson.dumps({"customer_id": "C-1", "tier": "gold"}), b"C-1", max_bytes=65536
    )
    assert not isinstance(ok, Rejection) and ok[1].tier == "gold"
    bad = parse_profile(
        orjson.dumps({"customer_id": "C-1", "lifetime_value": -5}), None, max_bytes=65536
    )
    assert isinstance(bad, Rejection) and bad.error == "schema_violation"


def test_every_known_type_has_a_default_dimension() -> None:
    from streams.scoring.vocabulary import DEFAULT_DIMENSIONS, DIMENSIONS, EVENT_TYPES

    assert set(DEFAULT_DIMENSIONS) == set(EVENT_TYPES)
    assert set(DEFAULT_DIMENSIONS.values()) <= set(DIMENSIONS)
