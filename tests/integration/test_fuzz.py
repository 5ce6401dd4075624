"""Thousands of generated malformed messages, interleaved with generated valid ones, through the
real topic and a real worker: each malformed one ends in the dead-letter topic with its precise
code (and the pointer to the offending field), each valid one is scored exactly once, and the
worker neither restarts nor grows.

Size: `CX_FAULTS_SCALE=ci` (the default) sends 100 batches of 100 malformed messages (and 10 valid
ones each), `CX_FAULTS_SCALE=full` (`make test-faults`) 300 batches; `CX_FUZZ_BATCHES=N` sets the
number of batches directly (a quick run: `CX_FUZZ_BATCHES=5`).

Each message is matched to its dead-letter record by the partition and offset it was written at,
so a failure names the message, what was expected and what came out. The expectations come from
the published contract (`schemas/interaction.schema.json`, the dead-letter codes in
`schemas/README.md`), not from the processor's code.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from streams.contract import MAX_DEPTH
from streams.deadletter import MAX_PAYLOAD_BYTES, original_key, original_payload
from tests.integration.conftest import Worker, make_worker

pytestmark = pytest.mark.fuzz

_SCALES = {"ci": 100, "full": 300}
SCALE = os.environ.get("CX_FAULTS_SCALE", "ci")
if SCALE not in _SCALES:
    raise ValueError(f"CX_FAULTS_SCALE={SCALE!r}: expected one of {', '.join(_SCALES)}")
BATCHES = int(os.environ.get("CX_FUZZ_BATCHES", _SCALES[SCALE]))
if BATCHES < 1:
    raise ValueError(f"CX_FUZZ_BATCHES={BATCHES}: expected at least 1")
PER_BATCH = 100  # malformed messages per batch
VALID_EVERY = 10  # a valid event before every tenth malformed one
WARM_UP = max(1, BATCHES // 10)  # batches before the memory baseline
BURST = 24  # messages of the largest size, at once, at the end of the warm-up
#: RSS growth allowed after the warm-up. Measured: +1 to +5 MiB (ci), +11 MiB (full); a worker
#: made to keep every message it read grew by 40 MiB in the ci run.
LEAK_LIMIT_KIB = 24 * 1024
MAX_BYTES = 65536  # CX_MAX_EVENT_BYTES, the worker's default
MAX_MESSAGE = 1_000_000  # what the broker takes on the input topic (its default, about 1 MiB)
NOW = time.time()
DAY = 86400.0

SCHEMA = orjson.loads(
    (Path(__file__).parents[2] / "schemas" / "interaction.schema.json").read_bytes()
)
PROPERTIES: dict[str, Any] = SCHEMA["properties"]
REQUIRED: list[str] = SCHEMA["required"]
KNOWN_TYPES: list[str] = PROPERTIES["type"]["examples"]
ENUMS = {name: spec["enum"] for name, spec in PROPERTIES.items() if "enum" in spec}
RESPONSES = {
    "nps_response": "nps",
    "csat_response": "csat",
    "ces_response": "ces",
    "review": "rating",
}
RANGES = {  # number fields: (minimum, maximum, integer)
    name: (spec["minimum"], spec["maximum"], spec["type"] == "integer")
    for name, spec in PROPERTIES.items()
    if "minimum" in spec and "maximum" in spec
}
STRINGS = {name: spec["maxLength"] for name, spec in PROPERTIES.items() if "maxLength" in spec}
MAX_ATTRIBUTES = PROPERTIES["attributes"]["maxProperties"]
MAX_ATTRIBUTE_LENGTH = PROPERTIES["attributes"]["additionalProperties"]["maxLength"]
CE_JSON = [("content-type", b"application/cloudevents+json")]


@dataclass(frozen=True)
class Case:
    """One malformed message and the dead-letter record it must produce."""

    kind: str  # what is wrong, for the tally and the failure report
    key: bytes | None
    value: bytes | None
    code: str  # the dead-letter error code
    path: str | None  # the record's JSON pointer; None: the record has none
    detail: str = ""  # a piece of text the record's detail must contain
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Valid:
    customer: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


_ids = itertools.count()


def new_customer(prefix: str) -> str:
    return f"C-{prefix}-{next(_ids):06d}"


# -- time stamps ------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST = -62135596800.0 + DAY  # 0001-01-02T00:00:00Z: room for any offset
LAST = 253402300799.0 - DAY  # 9999-12-30T23:59:59Z


def stamp(
    epoch: float, digits: int = 3, offset_minutes: int | None = None, lower: bool = False
) -> str:
    """RFC 3339 with `digits` fraction digits, in UTC ('Z') or at an offset (+hh:mm)."""
    moment = EPOCH + timedelta(seconds=epoch) + timedelta(minutes=offset_minutes or 0)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if digits:
        text += "." + f"{moment.microsecond:06d}{'0' * 12}"[:digits]
    if offset_minutes is None:
        text += "Z"
    else:
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        text += f"{sign}{hours:02d}:{minutes:02d}"
    return text.lower() if lower else text


def stamps(low: float, high: float) -> st.SearchStrategy[str]:
    return st.builds(
        stamp,
        st.floats(low, high),
        st.integers(0, 12),
        st.one_of(st.none(), st.integers(-(23 * 60 + 59), 23 * 60 + 59)),
        st.booleans(),
    )


#: A valid event time: within the last two days (the allowed lateness is three).
RECENT = stamps(NOW - 2 * DAY, NOW - 120)
FUTURE = stamps(NOW + DAY, LAST)
PAST = stamps(FIRST, -0.001)


# -- valid events -----------------------------------------------------------------------------

text = st.text(max_size=40)
ints = st.integers(-(2**53), 2**53)
finite = st.floats(allow_nan=False, allow_infinity=False)
flat = st.one_of(st.none(), st.booleans(), ints, finite, st.text(max_size=MAX_ATTRIBUTE_LENGTH))
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,40}", fullmatch=True)


def in_range(name: str) -> st.SearchStrategy[Any]:
    low, high, integer = RANGES[name]
    return st.integers(low, high) if integer else st.floats(low, high)


def long_text(limit: int) -> st.SearchStrategy[str]:
    """Up to `limit` characters: short random text, or long runs of multi-byte characters."""
    return st.one_of(
        st.text(max_size=min(limit, 60)),
        st.builds(
            lambda n, c: c * n, st.integers(0, limit), st.sampled_from("x\u00e9\u20ac\U0001d11e")
        ),
    )


OPTIONAL = {
    **{name: st.sampled_from(values) for name, values in ENUMS.items()},
    **{name: in_range(name) for name in RANGES},
    "ticket_id": ids,
    "currency": st.from_regex(r"[A-Z]{3}", fullmatch=True),
    "text": long_text(STRINGS["text"]),
    "source": long_text(STRINGS["source"]),
    "attributes": st.dictionaries(st.text(max_size=16), flat, max_size=MAX_ATTRIBUTES),
}


VALID_TYPES = st.sampled_from((*KNOWN_TYPES, "hologram_beamed", "x.custom-type_2"))
OPTIONAL_FIELDS = st.fixed_dictionaries({}, optional=OPTIONAL)
IN_RANGE = {name: in_range(name) for name in RANGES}
FORMS = st.sampled_from(("keyed", "unkeyed", "structured", "binary"))
CE_HEADERS = st.sampled_from(((), tuple(CE_JSON)))


@st.composite
def valid_event(draw: st.DrawFn) -> Callable[[str], Valid]:
    """Any event the contract accepts, plain (keyed or not) or a CloudEvent (either mode), for
    the customer it is given."""
    kind = draw(VALID_TYPES)
    event: dict[str, Any] = {
        "event_id": f"ok-{next(_ids)}",
        "occurred_at": draw(RECENT),
        "type": kind,
    }
    event.update(draw(OPTIONAL_FIELDS))
    if kind in RESPONSES:
        event[RESPONSES[kind]] = draw(IN_RANGE[RESPONSES[kind]])
    if kind.startswith("ticket_"):
        event["ticket_id"] = draw(ids)
    if len(orjson.dumps(event)) > MAX_BYTES - 500:  # room for the rest and an envelope
        event.pop("attributes", None)
        event.pop("text", None)
    form = draw(FORMS)
    headers = draw(CE_HEADERS)
    return lambda customer: as_valid({**event, "customer_id": customer}, form, headers)


def as_valid(event: dict[str, Any], form: str, headers: tuple[tuple[str, bytes], ...]) -> Valid:
    customer = event["customer_id"]
    key = customer.encode()
    if form == "keyed":
        return Valid(customer, key, orjson.dumps(event))
    if form == "unkeyed":
        return Valid(customer, None, orjson.dumps(event))
    attributes = {
        "specversion": "1.0",
        "id": event.pop("event_id"),
        "source": "//fuzz/valid",
        "type": f"com.example.cx.{event['type']}",
        "subject": event.pop("customer_id"),
        "time": event.pop("occurred_at"),
    }
    if "." not in event["type"]:  # else the CloudEvents type's last part would be another type
        del event["type"]
    if form == "structured":
        return Valid(customer, key, orjson.dumps({**attributes, "data": event}), headers)
    binary = tuple((f"ce_{name}", value.encode()) for name, value in attributes.items())
    return Valid(
        customer, key, orjson.dumps(event), (*binary, ("content-type", b"application/json"))
    )


# -- malformed messages, one defect each ------------------------------------------------------


def base(prefix: str = "bad") -> dict[str, Any]:
    return {
        "event_id": f"bad-{next(_ids)}",
        "customer_id": new_customer(prefix),
        "occurred_at": stamp(NOW - 3600),
        "type": "login",
        "channel": "web",
    }


def keyed(event: dict[str, Any]) -> bytes:
    return str(event["customer_id"]).encode()


def json_text(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


@st.composite
def not_json(draw: st.DrawFn) -> Case:
    junk = draw(
        st.one_of(
            st.text(max_size=50).map(lambda s: s + "}" if json_text(s) else s),
            st.sampled_from(("", " \n\t", "{", '{"event_id": ', "[1, 2", "NaN", "{'a': 1}", "nul")),
        )
    )
    return Case(
        "not_json", draw(st.sampled_from((None, b"C-1"))), junk.encode(), "invalid_json", None
    )


def tombstone() -> st.SearchStrategy[Case]:
    return st.just(Case("tombstone", b"C-1", None, "invalid_json", None, "tombstone"))


@st.composite
def not_utf8(draw: st.DrawFn) -> Case:
    raw = draw(st.binary(max_size=60))
    at = draw(st.integers(0, len(raw)))
    # bytes that are never UTF-8, whatever comes before or after them
    bad = draw(st.sampled_from((b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf5")))
    if draw(st.booleans()):  # inside an otherwise valid event
        raw = orjson.dumps({**base(), "text": "abc"})
        at = raw.index(b"abc") + 1
    return Case("not_utf8", None, raw[:at] + bad + raw[at:], "invalid_utf8", None, "UTF-8")


@st.composite
def truncated_utf8(draw: st.DrawFn) -> Case:
    char = draw(st.sampled_from(("\u00e9", "\u20ac", "\U0001d11e")))
    event = base()
    raw = orjson.dumps({**event, "text": f"caf{char} ok"})
    start = raw.index(char.encode())
    cut = start + draw(st.integers(1, len(char.encode()) - 1))
    goes_on = draw(st.booleans())  # after the cut character, or the message ends there
    value = raw[:cut] + (raw[start + len(char.encode()) :] if goes_on else b"")
    return Case("truncated_utf8", keyed(event), value, "invalid_utf8", None, "UTF-8")


@st.composite
def not_an_object(draw: st.DrawFn) -> Case:
    value = draw(
        st.one_of(st.none(), st.booleans(), ints, finite, text, st.lists(ints, max_size=5))
    )
    return Case(
        "not_an_object", None, orjson.dumps(value), "schema_violation", "", "expected a JSON object"
    )


@st.composite
def missing_field(draw: st.DrawFn) -> Case:
    event = base()
    gone = draw(st.sampled_from(REQUIRED))
    key = None if gone == "customer_id" else keyed(event)
    del event[gone]
    return Case(
        "missing_field",
        key,
        orjson.dumps(event),
        "schema_violation",
        "",
        f'"{gone}"',  # named in the detail
    )


@st.composite
def missing_conditional(draw: st.DrawFn) -> Case:
    kind, needed = draw(st.sampled_from((*RESPONSES.items(), ("ticket_opened", "ticket_id"))))
    event = {**base(), "type": kind}
    return Case(
        "missing_conditional",
        keyed(event),
        orjson.dumps(event),
        "schema_violation",
        "",
        f'"{needed}"',
    )


SOME_NOT_STRING = st.one_of(
    st.booleans(), ints, finite, st.lists(ints, max_size=3), st.just({"a": 1})
)
NOT_STRING = st.one_of(st.none(), SOME_NOT_STRING)
NOT_NUMBER = st.one_of(
    st.none(), st.booleans(), text, st.lists(ints, max_size=3), st.just({"a": 1})
)
FRACTIONS = st.builds(lambda n, f: n + f, ints, st.sampled_from((0.5, 0.25, 0.1, 0.999)))
NOT_INTEGER = st.one_of(NOT_NUMBER, FRACTIONS)
NOT_OBJECT = st.one_of(st.none(), st.booleans(), ints, finite, text, st.lists(ints, max_size=3))
WRONG = {
    **{
        name: NOT_STRING for name in ["event_id", "customer_id", "occurred_at", "type", "ticket_id"]
    },
    **{name: NOT_STRING for name in ["currency", "text", "source", *ENUMS]},
    **{name: NOT_INTEGER if integer else NOT_NUMBER for name, (_, _, integer) in RANGES.items()},
    "attributes": NOT_OBJECT,
}


@st.composite
def wrong_type(draw: st.DrawFn) -> Case:
    event = base()
    name = draw(st.sampled_from(sorted(WRONG)))
    key = None if name == "customer_id" else keyed(event)
    event[name] = draw(WRONG[name])
    return Case("wrong_type", key, orjson.dumps(event), "schema_violation", f"/{name}")


@st.composite
def bad_value(draw: st.DrawFn) -> Case:
    """The right type, a value the contract does not have: enums, patterns."""
    event = base()
    name = draw(st.sampled_from((*ENUMS, "event_id", "customer_id", "type", "currency")))
    if name in ENUMS:
        value = draw(text.filter(lambda s: s not in ENUMS[name]))
    elif name == "type":
        value = draw(st.sampled_from(("Login", "", "has space", "9lives", "x" * 65, "login!")))
    elif name == "currency":
        value = draw(st.sampled_from(("eur", "EURO", "", "E1R")))
    else:
        value = draw(
            st.sampled_from(("", "C 1", "-leading-dash", "x" * 129, "\u00e9t\u00e9", "a\nb"))
        )
    key = None if name == "customer_id" else keyed(event)
    event[name] = value
    return Case("bad_value", key, orjson.dumps(event), "schema_violation", f"/{name}")


@st.composite
def out_of_range(draw: st.DrawFn) -> Case:
    name = draw(st.sampled_from(sorted(RANGES)))
    low, high, integer = RANGES[name]
    if integer:
        value = draw(st.one_of(st.integers(-(2**63), low - 1), st.integers(high + 1, 2**63)))
    else:
        value = draw(
            st.one_of(
                st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False),
                st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False),
            )
        )
    kind = next((t for t, f in RESPONSES.items() if f == name), "login")
    event = {**base(), "type": draw(st.sampled_from((kind, "login"))), name: value}
    return Case("out_of_range", keyed(event), orjson.dumps(event), "schema_violation", f"/{name}")


@st.composite
def far_future(draw: st.DrawFn) -> Case:
    event = {**base(), "occurred_at": draw(FUTURE)}
    return Case(
        "far_future", keyed(event), orjson.dumps(event), "bad_timestamp", "/occurred_at", "future"
    )


@st.composite
def before_1970(draw: st.DrawFn) -> Case:
    event = {**base(), "occurred_at": draw(PAST)}
    return Case(
        "before_1970", keyed(event), orjson.dumps(event), "bad_timestamp", "/occurred_at", "1970"
    )


NEAR_MISSES = [  # each breaks RFC 3339's date-time once
    "2026-11-20 09:30:00Z",  # a space for the 'T' (the schema's date-time has the 'T')
    "2026-11-20T09:30:00",  # no offset
    "2026-11-20",
    "2026-11-20T09:30Z",
    "2026-11-20T09:30:00.Z",
    "2026-11-20T09:30:00,5Z",
    "2026-11-20T09:30:00+0100",
    "2026-11-20T09:30:00+1:00",
    "2026-11-20T09:30:00+24:00",
    "2026-11-20T09:30:00+05:60",
    "2026-13-20T09:30:00Z",
    "2026-00-20T09:30:00Z",
    "2026-11-31T09:30:00Z",
    "2026-02-29T09:30:00Z",
    "2026-11-20T24:00:00Z",
    "2026-11-20T09:60:00Z",
    "2026-11-20T12:00:60Z",  # a leap second, but not at the end of a UTC day
    "26-11-20T09:30:00Z",
    "2026-11-20T09:30:00Z ",
    " 2026-11-20T09:30:00Z",
    "2026-11-20T09:30:00Z\n",
    "2026/11/20T09:30:00Z",
    "\u0662\u0660\u0662\u0666-11-20T09:30:00Z",
    "1795167000",
    "yesterday",
    "",
]


@st.composite
def not_a_timestamp(draw: st.DrawFn) -> Case:
    value = draw(
        st.one_of(
            st.sampled_from(NEAR_MISSES), text.map(lambda s: f"x{s}" if s[:1].isdigit() else s)
        )
    )
    event = {**base(), "occurred_at": value}
    return Case(
        "not_a_timestamp", keyed(event), orjson.dumps(event), "bad_timestamp", "/occurred_at"
    )


@st.composite
def huge_string(draw: st.DrawFn) -> Case:
    event = base()
    name = draw(st.sampled_from((*STRINGS, "attribute")))
    limit = MAX_ATTRIBUTE_LENGTH if name == "attribute" else STRINGS[name]
    value = "x" * draw(st.integers(limit + 1, 60_000))
    if name == "attribute":
        event["attributes"] = {"x": value}
        return Case(
            "huge_string", keyed(event), orjson.dumps(event), "schema_violation", "/attributes/x"
        )
    event[name] = value
    return Case("huge_string", keyed(event), orjson.dumps(event), "schema_violation", f"/{name}")


@st.composite
def huge_array(draw: st.DrawFn) -> Case:
    event = base()
    items = list(range(draw(st.integers(1, 12_000))))
    where = draw(st.sampled_from(("attribute", "field", "many")))
    if where == "attribute":  # attribute values are flat
        event["attributes"] = {"x": items}
        return Case(
            "huge_array", keyed(event), orjson.dumps(event), "schema_violation", "/attributes/x"
        )
    if where == "field":  # an unknown field
        event["items"] = items
        return Case("huge_array", keyed(event), orjson.dumps(event), "schema_violation", "")
    event["attributes"] = {f"a{i}": i for i in range(draw(st.integers(MAX_ATTRIBUTES + 1, 3000)))}
    return Case("huge_array", keyed(event), orjson.dumps(event), "schema_violation", "/attributes")


@st.composite
def nested(draw: st.DrawFn) -> Case:
    """Objects or arrays nested from two levels to far deeper than any JSON parser goes."""
    event = base()
    array = draw(st.booleans())
    opening, closing, step = (b"[", b"]", "/0") if array else (b'{"a":', b"}", "/a")
    levels = draw(
        st.one_of(
            st.integers(1, MAX_DEPTH - 2),  # within the depth limit: x is not flat
            st.integers(MAX_DEPTH - 1, 300),  # past it, and past the schema validator's (~255)
            st.integers(300, 65_000 // (len(opening) + 1)),  # and past the parser's (1024)
        )
    )
    raw = orjson.dumps({**event, "attributes": {"x": "HOLE"}})
    value = raw.replace(b'"HOLE"', opening * levels + b"1" + closing * levels)
    depth = 2 + levels  # the event, attributes, then x's levels
    path = "/attributes/x" if depth <= MAX_DEPTH else "/attributes/x" + step * (MAX_DEPTH - 2)
    return Case("nested", keyed(event), value, "schema_violation", path)


@st.composite
def nested_array(draw: st.DrawFn) -> Case:
    """A message that is nothing but nested arrays."""
    levels = draw(st.integers(1, MAX_BYTES // 2))
    return Case(
        "nested_array",
        None,
        b"[" * levels + b"]" * levels,
        "schema_violation",
        "",
        "expected a JSON object",
    )


SIZES = st.one_of(
    st.integers(MAX_BYTES + 1, MAX_BYTES + 100),
    st.integers(MAX_BYTES + 1, 200_000),
    st.integers(0, 9).map(lambda n: MAX_MESSAGE if n == 9 else MAX_BYTES + 1 + n),  # now and then
)


@st.composite
def oversized(draw: st.DrawFn) -> Case:
    return too_large(draw(SIZES), draw(st.sampled_from(FORMS_TOO_LARGE)))


FORMS_TOO_LARGE = ("event", "binary", "utf8", "nested")


def too_large(size: int, form: str) -> Case:
    event = base()
    if form == "event":  # a valid event but for a long text
        raw = orjson.dumps({**event, "text": ""})
        value = raw.replace(b'"text":""', b'"text":"' + b"y" * max(size - len(raw), 1) + b'"')
    elif form == "binary":
        value = (b"\xff\x00\x01" * (size // 3 + 1))[: max(size, MAX_BYTES + 1)]
    elif form == "utf8":
        value = ("\u00e9" * (size // 2 + 1)).encode()
    else:
        value = b"[" * (size // 2 + 1) + b"]" * (size // 2 + 1)
    return Case("oversized", keyed(event), value, "too_large", None, f"{len(value)} bytes")


def empty_key() -> st.SearchStrategy[Case]:
    return st.builds(
        lambda: Case("empty_key", b"", orjson.dumps(base()), "key_mismatch", None, "empty")
    )


@st.composite
def other_key(draw: st.DrawFn) -> Case:
    event = base()
    customer = event["customer_id"]
    key = draw(
        st.one_of(
            st.sampled_from(
                [b"C-someone-else", customer.lower().encode(), f"{customer} ".encode(), b"\xff\xfe"]
            ),
            st.binary(min_size=1, max_size=20).filter(lambda k: k != customer.encode()),
        )
    )
    return Case("other_key", key, orjson.dumps(event), "key_mismatch", "/customer_id", "differs")


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event["event_id"],
        "source": "//fuzz",
        "type": f"com.example.cx.{event['type']}",
        "subject": event["customer_id"],
        "time": event["occurred_at"],
        "data": {"channel": event["channel"]},
    }


@st.composite
def cloudevent_attribute(draw: st.DrawFn) -> Case:
    """A CloudEvent (structured or binary mode) with a core attribute missing, empty or not a
    string."""
    event = base()
    name = draw(st.sampled_from(("specversion", "id", "source", "type")))
    fault = draw(st.sampled_from(("missing", "empty", "not a string")))
    ce = envelope(event)
    if draw(st.booleans()):  # structured mode
        if fault == "missing":
            del ce[name]
        else:
            ce[name] = "" if fault == "empty" else draw(SOME_NOT_STRING)
        headers = CE_JSON if name == "specversion" or draw(st.booleans()) else []
        value = orjson.dumps(ce)
    else:  # binary mode: headers are bytes, so 'not a string' is 'empty'
        data = ce.pop("data")
        if fault == "missing":
            del ce[name]
        else:
            ce[name] = ""
        headers = [(f"ce_{k}", str(v).encode()) for k, v in ce.items()]
        value = orjson.dumps(data)
    return Case(
        "cloudevent_attribute",
        keyed(event),
        value,
        "schema_violation",
        "",
        f"attribute {name!r}",
        tuple(headers),
    )


@st.composite
def cloudevent_other(draw: st.DrawFn) -> Case:
    """A complete CloudEvent with another defect: spec version, data, or its interaction."""
    event = base()
    ce = envelope(event)
    fault = draw(st.sampled_from(("specversion", "data", "nps", "time", "subject")))
    key = keyed(event)
    if fault == "specversion":
        ce["specversion"] = draw(st.sampled_from(("0.3", "2.0", "1", "1.0 ")))
        return Case("cloudevent_other", key, orjson.dumps(ce), "schema_violation", "", "not 1.0")
    if fault == "data":
        if draw(st.booleans()):
            del ce["data"]
        else:
            ce["data"] = draw(NOT_OBJECT)
        return Case("cloudevent_other", key, orjson.dumps(ce), "schema_violation", "", "data")
    if fault == "nps":
        ce["data"]["nps"] = draw(st.integers(11, 1000))
        return Case("cloudevent_other", key, orjson.dumps(ce), "schema_violation", "/nps")
    if fault == "time":
        ce["time"] = draw(FUTURE)
        return Case("cloudevent_other", key, orjson.dumps(ce), "bad_timestamp", "/occurred_at")
    return Case(
        "cloudevent_other", b"C-not-the-subject", orjson.dumps(ce), "key_mismatch", "/customer_id"
    )


@st.composite
def unknown_field(draw: st.DrawFn) -> Case:
    event = base()
    name = draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in PROPERTIES))
    event[name] = draw(flat)
    return Case("unknown_field", keyed(event), orjson.dumps(event), "schema_violation", "")


KINDS: list[Callable[[], st.SearchStrategy[Case]]] = [
    not_json,
    tombstone,
    not_utf8,
    truncated_utf8,
    not_an_object,
    missing_field,
    missing_conditional,
    wrong_type,
    bad_value,
    out_of_range,
    far_future,
    before_1970,
    not_a_timestamp,
    huge_string,
    huge_array,
    nested,
    nested_array,
    oversized,
    empty_key,
    other_key,
    cloudevent_attribute,
    cloudevent_other,
    unknown_field,
]


STRATEGIES = [kind() for kind in KINDS]
VALID = valid_event()
#: A few customers for the valid events, whatever the size of the run: the worker's state stays
#: the same size, so memory that grows is a leak.
VALID_CUSTOMERS = st.sampled_from(tuple(new_customer("ok") for _ in range(20)))


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Case], list[Valid]]:
    """PER_BATCH malformed messages, the kinds in turn, and valid events of a customer."""
    start = draw(st.integers(0, len(KINDS) - 1))
    cases = [draw(STRATEGIES[(start + i) % len(KINDS)]) for i in range(PER_BATCH)]
    customer = draw(VALID_CUSTOMERS)
    valid = [draw(VALID)(customer) for _ in range(PER_BATCH // VALID_EVERY)]
    return cases, valid


# -- the run ----------------------------------------------------------------------------------


class Publisher:
    """One idempotent producer for the whole run; tells where each message landed."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._runner = asyncio.Runner()
        self._producer = self._runner.run(self._start(bootstrap))

    @staticmethod
    async def _start(bootstrap: str) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=4 * MAX_MESSAGE,
            linger_ms=5,
        )
        await producer.start()
        return producer

    def send(
        self, messages: list[tuple[bytes | None, bytes | None, tuple[tuple[str, bytes], ...]]]
    ) -> list[tuple[int, int]]:
        """Send in order, wait for the broker to acknowledge all: (partition, offset) of each."""

        async def run() -> list[tuple[int, int]]:
            pending = [
                await self._producer.send(self.topic, value, key=key, headers=list(headers) or None)
                for key, value, headers in messages
            ]
            return [(m.partition, m.offset) for m in await asyncio.gather(*pending)]

        return self._runner.run(run())

    def close(self) -> None:
        self._runner.run(self._producer.stop())
        self._runner.close()


@dataclass
class Run:
    worker: Worker
    expected: dict[tuple[int, int], Case] = field(default_factory=dict)
    valid_at: dict[tuple[int, int], Valid] = field(default_factory=dict)
    valid: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    bytes_sent: int = 0
    bytes_at_baseline: int = 0
    rss: list[tuple[str, int]] = field(default_factory=list)

    def send(
        self, publisher: Publisher, cases: list[Case], valid: list[Valid], batch: bool = True
    ) -> None:
        messages: list[Case | Valid] = []
        for i, case in enumerate(cases):
            if i % VALID_EVERY == 0 and i // VALID_EVERY < len(valid):
                messages.append(valid[i // VALID_EVERY])
            messages.append(case)
        where = publisher.send([(m.key, m.value, m.headers) for m in messages])
        for message, at in zip(messages, where, strict=True):
            if isinstance(message, Case):
                self.expected[at] = message
            else:
                self.valid_at[at] = message
                self.valid[message.customer] += 1
            self.bytes_sent += len(message.value or b"")
        self.batches += batch

    def sample_rss(self, label: str) -> int:
        assert self.worker.process is not None
        with open(f"/proc/{self.worker.process.pid}/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        self.rss.append((label, kib))
        return kib


_METRIC = re.compile(
    r'^(cx_invalid_events_total|cx_score_updates_total)(?:\{reason="([^"]+)",topic="interactions"\})? ([0-9.e+]+)$',
    re.M,
)


def worker_counts(worker: Worker) -> tuple[Counter[str], int]:
    """Dead-letter records by code and score updates, as the worker's /metrics tell."""
    status, body = worker.get("/metrics")
    assert status == 200, (status, body)
    invalid: Counter[str] = Counter()
    scored = 0
    for name, reason, value in _METRIC.findall(body):
        if name == "cx_score_updates_total":
            scored = int(float(value))
        elif reason:
            invalid[reason] = int(float(value))
    return invalid, scored


def wait_processed(run: Run, timeout: float) -> tuple[int, int]:
    """Until the worker has had an outcome (a dead-letter record or a score update) for every
    message sent; the number of each, as its /metrics count them."""
    deadline = time.monotonic() + timeout
    while True:
        invalid, scored = worker_counts(run.worker)
        if invalid.total() + scored >= len(run.expected) + len(run.valid_at):
            return invalid.total(), scored
        if time.monotonic() > deadline or not run.worker.alive():
            pytest.fail(
                f"after {timeout:.0f} s the worker had dead-lettered {invalid.total()} of "
                f"{len(run.expected)} malformed messages and published {scored} of "
                f"{len(run.valid_at)} score updates (alive: {run.worker.alive()}):\n"
                f"{run.worker.log_tail()}"
            )
        time.sleep(0.5)


def shown(value: bytes | None, limit: int = 160) -> str:
    if value is None:
        return "None"
    return repr(value[:limit]) + (f"... ({len(value)} bytes)" if len(value) > limit else "")


def differences(run: Run, topic: str, dead: list[Any]) -> dict[str, list[str]]:
    """Every way the dead-letter records differ from what each message should have produced,
    by what went wrong: a line for each message."""
    problems: dict[str, list[str]] = {}

    def problem(what: str, line: str) -> None:
        problems.setdefault(what, []).append(line)

    seen: set[tuple[int, int]] = set()
    for record in dead:
        source = record["source"]
        at = (source["partition"], source["offset"])
        if source["topic"] != topic:
            problem("a record from another topic", str(source))
            continue
        if at in seen:
            problem("dead-lettered twice", str(at))
        seen.add(at)
        if at in run.valid_at:
            valid = run.valid_at[at]
            problem(
                f"valid, dead-lettered as {record['error']}",
                f"{at}: {record['detail'][:300]}\n      key {shown(valid.key)}, headers "
                f"{valid.headers}, value {shown(valid.value)}",
            )
            continue
        case = run.expected.get(at)
        if case is None:
            problem("a record for no message sent", f"{at}: {record['error']}")
            continue
        path = record.get("path")
        if record["error"] != case.code or path != case.path or case.detail not in record["detail"]:
            problem(
                f"{case.kind}: expected {case.code}, got {record['error']}",
                f"{at}: expected path {case.path!r} and {case.detail!r} in the detail, got "
                f"{path!r}: {record['detail'][:300]}\n      key {shown(case.key)}, headers "
                f"{case.headers}, value {shown(case.value)}",
            )
        value = case.value or b""
        if original_payload(record) != value[:MAX_PAYLOAD_BYTES] or record["payload_truncated"] != (
            len(value) > MAX_PAYLOAD_BYTES
        ):
            problem(f"{case.kind}: original bytes not kept", f"{at}: {shown(value)}")
        if original_key(record) != case.key:
            problem(
                f"{case.kind}: original key not kept",
                f"{at}: {case.key!r} as {original_key(record)!r}",
            )
    for at, case in run.expected.items():
        if at not in seen:
            problem(
                f"{case.kind}: never dead-lettered (expected {case.code})",
                f"{at}: {shown(case.value)}",
            )
    return problems


def report(problems: dict[str, list[str]], examples: int = 3) -> str:
    lines = [f"{sum(map(len, problems.values()))} problems:"]
    for what, cases in sorted(problems.items(), key=lambda item: -len(item[1])):
        lines.append(f"  {len(cases)} x {what}, e.g.")
        lines.extend(f"    {case}" for case in cases[:examples])
    return "\n".join(lines)


@pytest.mark.timeout(300 + 6 * BATCHES)
def test_malformed_messages_get_their_code_valid_ones_are_scored_and_the_worker_holds(
    worker: Worker,
) -> None:
    assert worker.process is not None
    pid = worker.process.pid
    log_start = worker.log_path.stat().st_size
    run = Run(worker)
    publisher = Publisher(worker.bootstrap, worker.topics["interactions"])
    started = time.monotonic()
    timings: dict[str, float] = {}

    @settings(
        max_examples=BATCHES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],  # no shrinking: every example sends messages for real
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(batch=batches())
    def send(batch: tuple[list[Case], list[Valid]]) -> None:
        run.send(publisher, *batch)
        if run.batches == WARM_UP:  # every kind has been through: the baseline
            # and the largest messages at once, for the high-water mark of the worker's buffers
            burst = [too_large(MAX_MESSAGE, form) for form in FORMS_TOO_LARGE * (BURST // 4)]
            run.send(publisher, burst, [], batch=False)
            wait_processed(run, timeout=120)
            timings["warm-up"] = time.monotonic() - started
            run.sample_rss("after warm-up")
            run.bytes_at_baseline = run.bytes_sent
        elif run.batches % 10 == 0:
            run.sample_rss(f"batch {run.batches}")

    try:
        send()
    finally:
        publisher.close()
    timings["sent"] = time.monotonic() - started
    kinds = Counter(case.kind for case in run.expected.values())
    codes = Counter(case.code for case in run.expected.values())
    assert run.batches == BATCHES, f"hypothesis ran {run.batches} of {BATCHES} batches"
    assert len(run.expected) == PER_BATCH * BATCHES + BURST
    assert set(kinds) == {kind.__name__ for kind in KINDS}
    assert min(kinds.values()) >= BATCHES * (PER_BATCH // len(KINDS)), kinds

    dead_lettered, scored = wait_processed(run, timeout=120 + 3 * BATCHES)
    timings["processed"] = time.monotonic() - started
    run.sample_rss("all processed")

    topic = worker.topics["interactions"]
    records = worker.read("dlq", lambda rs: len(rs) >= dead_lettered, timeout=120)
    dead = [r.json() for r in records]
    problems = differences(run, topic, dead)
    assert not problems, report(problems)
    assert Counter(d["error"] for d in dead) == codes
    assert worker_counts(worker)[0] == codes  # the metrics tell the same

    # every valid event scored exactly once, nothing else scored
    scores = worker.read("scores", lambda rs: len(rs) >= scored, timeout=120)
    updates = Counter(r.key.decode() for r in scores if r.key is not None)
    assert updates == run.valid, {
        c: (updates[c], run.valid[c])
        for c in updates.keys() | run.valid.keys()
        if updates[c] != run.valid[c]
    }
    last = {r.key.decode(): r.json() for r in scores if r.key is not None}
    assert {c: u["event_count"] for c, u in last.items()} == dict(run.valid)
    timings["checked"] = time.monotonic() - started

    # the worker held: same process, healthy, nothing crashed or restarted
    assert worker.alive() and worker.process.pid == pid
    assert worker.get("/healthz")[0] == 200
    with worker.log_path.open("rb") as log:
        log.seek(log_start)
        tail = log.read().decode(errors="replace")
    for sign in ("Restarting", "Crashed", "processing error", "Traceback", "CRITICAL"):
        assert sign not in tail, f"{sign!r} in the worker's log:\n{tail[-5000:]}"

    # memory: from the end of the warm-up (every kind and the largest messages have been
    # through) to the end, the worker grows by less than the bytes that went through meanwhile:
    # keeping each message (or its dead-letter record) would cost more than the limit.
    baseline = dict(run.rss)["after warm-up"]
    final = run.rss[-1][1]
    measured = run.bytes_sent - run.bytes_at_baseline
    print(
        f"\nfuzz: {len(run.expected)} malformed ({dict(sorted(codes.items()))}), "
        f"{len(run.valid_at)} valid, {run.bytes_sent / 1e6:.0f} MB "
        f"({measured / 1e6:.0f} MB after the warm-up); "
        + ", ".join(f"{k} at {v:.0f} s" for k, v in timings.items())
        + f"; RSS KiB {run.rss}"
    )
    if _SCALES["ci"] <= BATCHES:  # smaller runs are too small to tell a leak
        assert measured > LEAK_LIMIT_KIB * 1024, "too few bytes to tell a leak from noise"
    assert final - baseline < LEAK_LIMIT_KIB, (
        f"RSS grew by {final - baseline} KiB after the warm-up, while {measured} bytes went "
        f"through: {run.rss}"
    )


@pytest.mark.timeout(240)
def test_an_oversized_message_that_escapes_to_over_a_megabyte_is_dead_lettered(
    bootstrap: str, tmp_path: Path
) -> None:
    own = make_worker(bootstrap, tmp_path)  # not the module's worker: this one may not survive
    own.start()
    try:
        values = [b"\x01" * 200_000, b'"' * 600_000]
        own.send("interactions", [(None, value) for value in values])

        def done(records: list[Any]) -> bool:
            return (
                len(records) >= len(values) or not own.alive() or "Crashed" in own.log_tail(100000)
            )

        dead = own.read("dlq", done, timeout=60)
        assert [r.json()["error"] for r in dead] == ["too_large"] * len(values)
        assert own.alive()
        assert "Restarting" not in own.log_tail(100000)
    finally:
        own.stop()
