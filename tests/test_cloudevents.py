import time

import orjson
import pytest

from streams.contract import Rejection, parse_interaction

NOW = time.time()
DATA = {"channel": "chat", "ticket_id": "T-88"}
ENVELOPE = {
    "specversion": "1.0",
    "id": "evt-ce-1",
    "source": "//zendesk/acme",
    "type": "com.acme.cx.ticket_opened",
    "subject": "C-10042",
    "time": "2026-11-20T09:30:00Z",
    "datacontenttype": "application/json",
    "data": DATA,
}


def parse(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> object:
    return parse_interaction(
        value, b"C-10042", now=NOW, max_bytes=65536, future_skew=300, headers=headers
    )


def test_structured_mode_takes_id_time_subject_and_type_from_the_envelope() -> None:
    result = parse(orjson.dumps(ENVELOPE), [("content-type", b"application/cloudevents+json")])
    assert not isinstance(result, Rejection), result
    body, event = result
    assert (event.event_id, event.customer_id, event.type) == (
        "evt-ce-1",
        "C-10042",
        "ticket_opened",
    )
    assert body["source"] == "//zendesk/acme"
    assert event.occurred_at == 1795167000.0


def test_structured_mode_without_the_header() -> None:
    assert not isinstance(parse(orjson.dumps(ENVELOPE)), Rejection)


def test_fields_in_data_win_over_the_envelope() -> None:
    envelope = {**ENVELOPE, "data": {**DATA, "event_id": "evt-own", "type": "ticket_reopened"}}
    result = parse(orjson.dumps(envelope))
    assert not isinstance(result, Rejection)
    assert (result[1].event_id, result[1].type) == ("evt-own", "ticket_reopened")


def test_binary_mode_reads_the_ce_headers() -> None:
    headers = [
        (f"ce_{k}", str(v).encode())
        for k, v in ENVELOPE.items()
        if k not in ("data", "datacontenttype")
    ]
    headers.append(("content-type", b"application/json"))
    result = parse(orjson.dumps(DATA), headers)
    assert not isinstance(result, Rejection), result
    assert (result[1].event_id, result[1].type, result[1].ticket_id) == (
        "evt-ce-1",
        "ticket_opened",
        "T-88",
    )


@pytest.mark.parametrize("missing", ["specversion", "id", "source", "type"])
def test_a_missing_attribute_is_named(missing: str) -> None:
    envelope = {k: v for k, v in ENVELOPE.items() if k != missing}
    headers = [("content-type", b"application/cloudevents+json")]
    result = parse(orjson.dumps(envelope), headers)
    assert isinstance(result, Rejection) and result.error == "schema_violation"
    assert repr(missing) in result.detail
    binary = [
        (f"ce_{k}", str(v).encode())
        for k, v in ENVELOPE.items()
        if k not in ("data", "datacontenttype", missing)
    ]
    result = parse(orjson.dumps(DATA), binary)
    if missing == "specversion":  # the other ce_ headers still make it a binary-mode event
        assert isinstance(result, Rejection) and "'specversion'" in result.detail
    else:
        assert isinstance(result, Rejection) and repr(missing) in result.detail


def test_other_spec_versions_and_non_object_data_are_rejected() -> None:
    old = parse(orjson.dumps({**ENVELOPE, "specversion": "0.3"}))
    assert isinstance(old, Rejection) and "0.3" in old.detail
    scalar = parse(orjson.dumps({**ENVELOPE, "data": "hello"}))
    assert isinstance(scalar, Rejection) and "data" in scalar.detail


def test_the_unwrapped_interaction_is_still_validated() -> None:
    bad = parse(orjson.dumps({**ENVELOPE, "data": {"nps": 42}, "type": "com.acme.nps_response"}))
    assert isinstance(bad, Rejection) and bad.error == "schema_violation" and bad.path == "/nps"
    late = parse(orjson.dumps({**ENVELOPE, "time": "yesterday"}))
    assert isinstance(late, Rejection) and late.error == "bad_timestamp"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "is missing"),
        ("", "is empty"),
        (7, "is a number, not a string"),
        (1.0, "is a number, not a string"),
        (True, "is a boolean, not a string"),
        (["x"], "is an array, not a string"),
        ({"x": 1}, "is an object, not a string"),
    ],
)
@pytest.mark.parametrize("name", ["specversion", "id", "source", "type"])
def test_what_is_wrong_with_an_attribute_is_said(name: str, value: object, says: str) -> None:
    envelope = {**ENVELOPE, name: value}
    result = parse(orjson.dumps(envelope), [("content-type", b"application/cloudevents+json")])
    assert isinstance(result, Rejection) and result.error == "schema_violation"
    assert result.detail == f"the CloudEvents attribute {name!r} {says}"


@pytest.mark.parametrize("form", [list, tuple, dict])
def test_headers_as_a_list_a_tuple_or_a_dict(form: type) -> None:
    structured = [("Content-Type", b"application/cloudevents+json"), ("traceparent", b"00-1-2-01")]
    envelope = {k: v for k, v in ENVELOPE.items() if k != "specversion"}  # the header says it
    missing = parse(orjson.dumps(envelope), form(structured))
    assert isinstance(missing, Rejection) and "'specversion'" in missing.detail
    binary = [(f"ce_{k}", str(v).encode()) for k, v in ENVELOPE.items() if k != "data"]
    result = parse(orjson.dumps(DATA), form(binary))
    assert not isinstance(result, Rejection), result
    assert (result[1].event_id, result[1].type) == ("evt-ce-1", "ticket_opened")
