import orjson

from streams.contract import Rejection
from streams.deadletter import MAX_PAYLOAD_BYTES, dead_letter, original_payload


def record(payload: bytes, key: bytes | None = b"C-1") -> dict:
    data = dead_letter(
        Rejection("schema_violation", "at /nps: 11 is greater than the maximum of 10", "/nps"),
        topic="cx.interactions",
        partition=3,
        offset=42,
        timestamp_ms=1795000000000,
        key=key,
        payload=payload,
        now=1795000000.5,
    )
    return orjson.loads(data)


def test_a_record_says_what_where_and_keeps_the_bytes() -> None:
    r = record(b'{"nps": 11}')
    assert r["error"] == "schema_violation"
    assert r["path"] == "/nps"
    assert r["source"] == {
        "topic": "cx.interactions",
        "partition": 3,
        "offset": 42,
        "timestamp_ms": 1795000000000,
        "key": "C-1",
        "key_encoding": "utf-8",
    }
    assert r["payload_encoding"] == "utf-8" and not r["payload_truncated"]
    assert original_payload(r) == b'{"nps": 11}'
    assert r["received_at"] == "2026-11-18T11:06:40.500Z"


def test_binary_payloads_and_keys_are_base64() -> None:
    r = record(b"\xff\x00\xfe", key=b"\xff")
    assert r["payload_encoding"] == "base64"
    assert r["source"]["key_encoding"] == "base64"
    assert original_payload(r) == b"\xff\x00\xfe"


def test_huge_payloads_are_cut_and_say_so() -> None:
    r = record(b"a" * (MAX_PAYLOAD_BYTES + 10))
    assert r["payload_truncated"]
    assert len(original_payload(r)) == MAX_PAYLOAD_BYTES


def test_a_payload_that_escapes_to_more_than_the_bound_goes_as_base64_and_fits() -> None:
    for payload in (b"\x01" * 200_000, b'"' * 600_000, b"ok" * 100):
        data = dead_letter(
            Rejection("too_large", "big", None),
            topic="t",
            partition=0,
            offset=0,
            timestamp_ms=None,
            key=None,
            payload=payload,
            now=0.0,
        )
        assert len(data) < 1_000_000  # Kafka's default request limit
        r = orjson.loads(data)
        kept = original_payload(r)
        assert payload.startswith(kept)
        assert r["payload_truncated"] == (len(kept) < len(payload))
    assert r["payload_encoding"] == "utf-8"  # plain text stays readable
