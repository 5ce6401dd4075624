import random
import time

import orjson
import pytest

from streams.contract import (
    MAX_DEPTH,
    Rejection,
    _parse_rfc3339,
    parse_interaction,
    parse_profile,
    parse_time,
)
from streams.scoring.interaction import Interaction

NOW = time.time()
GOOD = {
    "event_id": "evt-1",
    "customer_id": "C-10042",
    "occurred_at": "2026-11-20T09:30:00.000Z",
    "type": "ticket_opened",
    "channel": "chat",
    "ticket_id": "T-88",
}


def parse(
    body: object, key: bytes | None = None, raw: bytes | None = None, now: float = NOW
) -> object:
    value = raw if raw is not None else orjson.dumps(body)
    return parse_interaction(value, key, now=now, max_bytes=65536, future_skew=300)


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


def test_every_field_goes_where_it_belongs() -> None:
    given = {"stage": "purchase", "interaction": "direct", "dimension": "feel", "nps": 9}
    given |= {"csat": 5, "ces": 6, "rating": 4.5, "sentiment": -0.5, "amount": 12.5}
    body = {**GOOD, "type": "review", "channel": "store", "resolution_seconds": 60.0, **given}
    result = parse(body)
    assert not isinstance(result, Rejection), result
    assert result[1] == Interaction(
        event_id="evt-1",
        customer_id="C-10042",
        occurred_at=1795167000.0,
        type="review",
        channel="store",
        environment="physical",
        ticket_id="T-88",
        resolution_seconds=60.0,
        **given,
    )


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


def nested(levels: int, opening: bytes = b'{"a":', closing: bytes = b"}") -> bytes:
    """GOOD with its attribute x nested `levels` deep (the event and attributes are two more)."""
    inner = opening * levels + b"1" + closing * levels
    return orjson.dumps({**GOOD, "attributes": {"x": "HOLE"}}).replace(b'"HOLE"', inner)


@pytest.mark.parametrize("opening", [b'{"a":', b"["])
@pytest.mark.parametrize("levels", [MAX_DEPTH - 2, MAX_DEPTH - 1, 300, 1021, 1022, 5000])
def test_nesting_at_any_depth_is_a_schema_violation_at_its_pointer(
    levels: int, opening: bytes
) -> None:
    # within the limit the schema says x is not flat; past it (where the schema validator and
    # then the JSON parser give up) the first level too deep is named, parsed or not
    closing = b"}" if opening.startswith(b"{") else b"]"
    result = parse(None, raw=nested(levels, opening, closing))
    assert code(result) == "schema_violation"
    assert isinstance(result, Rejection)
    step = "/a" if opening.startswith(b"{") else "/0"
    if 2 + levels <= MAX_DEPTH:
        assert result.path == "/attributes/x"
    else:
        assert result.path == "/attributes/x" + step * (MAX_DEPTH - 2)
        assert f"more than {MAX_DEPTH} levels" in result.detail


@pytest.mark.parametrize("levels", [100, 5000])
def test_deeply_nested_arrays_alone_are_not_an_object(levels: int) -> None:
    result = parse(None, raw=b"[" * levels + b"]" * levels)
    assert code(result) == "schema_violation"
    assert isinstance(result, Rejection) and result.path == ""
    assert "expected a JSON object" in result.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000,  # never closed
        b"[" * 5000 + b"]" * 4999 + b"}",
        b'{"a":' * 2000 + b"1" + b"}" * 1999,
        b'{"a":' * 2000 + b"1," + b"}" * 2000,
        b'{"a":' * 2000 + b"1e400" + b"}" * 2000,  # a number beyond a double
        b'{"a":' * 2000 + b'"\\ud800"' + b"}" * 2000,  # a lone surrogate
        b'{"a":' * 1000 + b"{1: 2}" + b"}" * 1000,  # a key that is not a string
        b"[" * 2000 + b"]" * 2000 + b"[]",
    ],
)
def test_deep_bytes_that_are_not_json_stay_invalid_json(raw: bytes) -> None:
    assert code(parse(None, raw=raw)) == "invalid_json"


def test_nesting_in_a_profile_is_a_schema_violation_too() -> None:
    for levels in (300, 5000):
        raw = b'{"customer_id": "C-1", "attributes": {"x": ' + b"[" * levels + b"]" * levels + b"}}"
        result = parse_profile(raw, None, max_bytes=65536)
        assert isinstance(result, Rejection) and result.error == "schema_violation", result


def test_pointers_follow_rfc_6901() -> None:
    top = parse({k: v for k, v in GOOD.items() if k != "type"})
    assert isinstance(top, Rejection) and top.path == ""  # the whole document, not "/"
    escaped = parse({**GOOD, "attributes": {"a/b~c": [1]}})
    assert isinstance(escaped, Rejection) and escaped.path == "/attributes/a~1b~0c"


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-20 09:30:00Z",  # RFC 3339 lets applications take a space; the schema does not
        "2026-11-20T09:30:00+05:60",
        "2026-11-20T09:30:00-01:99",
        "2026-11-20T09:30:00+24:00",
        "2026-11-20T12:00:60Z",  # a leap second is only ever the last second of a UTC day
        "2016-12-31T23:59:60+01:00",
    ],
)
def test_event_times_that_the_schema_refuses_are_bad_timestamps(stamp: str) -> None:
    result = parse({**GOOD, "occurred_at": stamp})
    assert code(result) == "bad_timestamp"
    assert isinstance(result, Rejection) and result.path == "/occurred_at"


@pytest.mark.parametrize(
    ("stamp", "epoch"),
    [
        ("2026-11-20t09:30:00z", 1795167000.0),
        ("2026-11-20T09:30:00.123456789012Z", 1795167000.123456),  # any number of digits
        ("2026-11-20T10:30:00.5+01:00", 1795167000.5),
        ("2016-12-31T23:59:60Z", 1483228800.0),  # a leap second
        ("2016-12-31T18:59:60-05:00", 1483228800.0),
    ],
)
def test_event_times_rfc_3339_allows_are_accepted(stamp: str, epoch: float) -> None:
    result = parse({**GOOD, "occurred_at": stamp}, now=2e9)
    assert not isinstance(result, Rejection), result
    assert result[1].occurred_at == pytest.approx(epoch, abs=1e-6)


def test_parse_time_still_takes_a_space_for_the_t() -> None:
    # people type it on the command line (dlq replay --since)
    assert parse_time("2026-11-20 09:30:00Z") == 1795167000.0


def utc_stamps(count: int, seed: int = 3) -> list[str]:
    """`YYYY-MM-DDTHH:MM:SS[.fraction]Z` at random, with each part now and then out of range."""
    rng = random.Random(seed)

    def part(low: int, high: int, width: int) -> str:
        return f"{rng.randint(low, high):0{width}d}"

    stamps = []
    for _ in range(count):
        year = rng.choice((part(1970, 2100, 4), part(0, 9999, 4)))
        date = f"{year}-{part(0, 13, 2)}-{part(0, 32, 2)}"
        clock = f"{part(0, 24, 2)}:{part(0, 60, 2)}:{part(0, 60, 2)}"
        digits = "".join(rng.choices("0123456789", k=rng.choice((0, 3, 3, 6, rng.randint(1, 40)))))
        fraction = f".{digits}" if digits else ""
        stamps.append(f"{date}{rng.choice('TTt')}{clock}{fraction}{rng.choice('ZZz')}")
    return stamps


def test_the_common_form_reads_as_the_general_rfc_3339_path_reads_it() -> None:
    # parse_time reads `...T...Z` on a shorter path: it must give the general path's floats,
    # bit for bit, and refuse what that refuses (30 February, hour 24, year 0, ...)
    edges = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-02-29T12:00:00Z"]
    edges += ["2026-02-29T12:00:00Z", "1900-02-29T00:00:00Z", "0000-01-01T00:00:00Z"]
    edges += ["2016-12-31T23:59:60Z", "2026-11-20T12:00:60Z", "2026-11-20T24:00:00Z"]
    for stamp in edges + utc_stamps(20_000):
        fast, general = parse_time(stamp), _parse_rfc3339(stamp)
        assert (fast is None) == (general is None), stamp
        assert fast is None or general is None or fast.hex() == general.hex(), stamp
