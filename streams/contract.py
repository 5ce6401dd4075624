"""The boundary: message bytes in, a validated `Interaction` or `Profile` out, or a `Rejection`.

Bad input is a value here, never an exception: each rejection carries the dead-letter error
code and a sentence saying exactly what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from pathlib import Path
from types import MemberDescriptorType
from typing import Any, Final

import jsonschema_rs
import orjson

from streams.cloudevents import Headers, envelope, unwrap
from streams.scoring.interaction import Interaction, Profile
from streams.scoring.vocabulary import (
    DEFAULT_DIMENSIONS,
    INDIRECT_CHANNELS,
    PHYSICAL_CHANNELS,
    default_stage,
)

__all__ = [
    "ERROR_CODES",
    "MAX_DEPTH",
    "Rejection",
    "interaction_from_body",
    "parse_interaction",
    "parse_profile",
    "schema_path",
]

#: Dead-letter error codes.
ERROR_CODES: Final = (
    "invalid_json",
    "invalid_utf8",
    "schema_violation",
    "bad_timestamp",
    "too_large",
    "key_mismatch",
    "too_late",
    "processing_error",
)

# RFC 3339 date-time: full date, 'T', full time (any number of fraction digits; second 60 is a
# leap second) and an offset (Z or +hh:mm, hours 00-23, minutes 00-59). parse_time also takes a
# space for the 'T' (RFC 3339 allows it in a note: people type it); event times must have the
# 'T', like the schema's date-time format.
_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})([Tt ])(\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z"
)
# The form nearly every event time has: UTC, upper-case 'T' and 'Z', no leap second. Such a
# string is already what fromisoformat is given after a general match is taken apart and put
# back together, so parse_time gives it to fromisoformat as it is.
_CANONICAL: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](?:\.[0-9]+)?Z\Z"
)
_EARLIEST: Final = 0.0  # 1970-01-01T00:00:00Z
_DAY: Final = 86400

#: No message nests objects and arrays deeper than a few levels (the schemas allow flat
#: attributes only); deeper ones are rejected before the schema validator sees them, whose own
#: limit (about 255 levels) would make it fail, as would the JSON parser's (1024 levels).
MAX_DEPTH: Final = 64


@dataclass(frozen=True, slots=True)
class Rejection:
    error: str
    detail: str
    path: str | None = None


def schema_path(name: str) -> Path:
    """Where a JSON Schema file lives: beside the package when installed, else the repo's."""
    here = Path(__file__).resolve().parent
    for folder in (here / "schemas", here.parent / "schemas"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"schema {name} not found beside the package or in ./schemas")


@cache
def _validator(name: str) -> Any:
    schema = orjson.loads(schema_path(name).read_bytes())
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def _load_object(value: bytes | None, max_bytes: int) -> dict[str, Any] | Rejection:
    if value is None:
        return Rejection("invalid_json", "the message has no value (a tombstone)")
    if len(value) > max_bytes:
        return Rejection(
            "too_large", f"the message is {len(value)} bytes; the limit is {max_bytes} bytes"
        )
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejection(
                "invalid_utf8", f"the message is not valid UTF-8 (byte {bad.start}: {bad.reason})"
            )
        # JSON nested deeper than the parser goes is still JSON: say what is wrong with it.
        if value.count(b"[") + value.count(b"{") > MAX_DEPTH:
            deep = _too_deep_unparsed(value)
            if deep is not None:
                return deep
        return Rejection("invalid_json", f"the message is not JSON: {exc}")
    if not isinstance(body, dict):
        return Rejection(
            "schema_violation", f"expected a JSON object, got {type(body).__name__}", path=""
        )
    # Each level of nesting takes an opening bracket, so with few of them (as in nearly every
    # message) nothing can be too deep and the walk is skipped.
    if value.count(b"[") + value.count(b"{") > MAX_DEPTH:
        pointer = _too_deep(body)
        if pointer is not None:
            return _nested_too_deep(pointer)
    return body


def _pointer_part(name: object) -> str:
    """One reference token of a JSON pointer (RFC 6901: '~' is '~0', '/' is '~1')."""
    return str(name).replace("~", "~0").replace("/", "~1")


def _nested_too_deep(pointer: str) -> Rejection:
    return Rejection(
        "schema_violation",
        f"at {pointer}: objects and arrays nested more than {MAX_DEPTH} levels deep",
        path=pointer,
    )


def _too_deep(body: dict[str, Any]) -> str | None:
    """The pointer of the first object or array (in document order) nested deeper than
    MAX_DEPTH, if any; without recursion."""
    stack: list[tuple[Any, str, int]] = [(body, "", 1)]
    while stack:
        node, pointer, depth = stack.pop()
        if depth > MAX_DEPTH:
            return pointer
        items = node.items() if isinstance(node, dict) else enumerate(node)
        children = [
            (child, f"{pointer}/{_pointer_part(name)}", depth + 1)
            for name, child in items
            if isinstance(child, dict | list)
        ]
        stack.extend(reversed(children))
    return None


# One JSON token after optional whitespace: an opening, a closing, a separator, or a string,
# number or literal (these are checked by the parser itself).
_TOKEN: Final = re.compile(
    rb'[ \t\n\r]*(?:([\[{])|([\]}])|([,:])|("(?:[^"\\]|\\.)*"|[^ \t\n\r\[\]{},:"]+))', re.DOTALL
)


def _too_deep_unparsed(value: bytes) -> Rejection | None:
    """For a UTF-8 message the parser refused: when it is well-formed JSON nested deeper than
    the parser goes, what is wrong with it (as for a parsed one); None when it is not JSON.

    A pushdown check of the structure, without recursion."""
    open_: list[bytes] = []  # the open objects and arrays, innermost last
    names: list[str] = []  # the pointer token of the member being read in each
    found: str | None = None
    expect = "value"  # value, first (value or closing), key, first_key, colon, next, end
    end = len(value.rstrip(b" \t\n\r"))
    pos = 0
    while pos < end:
        token = _TOKEN.match(value, pos, end)
        if token is None:
            return None
        pos = token.end()
        opening, closing, separator, scalar = token.groups()
        if opening is not None:
            if expect not in ("value", "first"):
                return None
            if len(open_) >= MAX_DEPTH and found is None:
                found = "".join(f"/{_pointer_part(name)}" for name in names)
            open_.append(opening)
            names.append("0")
            expect = "first" if opening == b"[" else "first_key"
        elif closing is not None:
            # after a member, or at once ('first' is only ever an array's, 'first_key' an object's)
            if not open_ or expect not in ("next", "first", "first_key"):
                return None
            if (open_.pop() == b"[") != (closing == b"]"):
                return None
            names.pop()
            expect = "next" if open_ else "end"
        elif separator == b",":
            if expect != "next":
                return None
            if open_[-1] == b"[":
                names[-1] = str(int(names[-1]) + 1)
                expect = "value"
            else:
                expect = "key"
        elif separator == b":":
            if expect != "colon":
                return None
            expect = "value"
        else:
            try:
                scalar_value = orjson.loads(scalar)
            except orjson.JSONDecodeError:
                return None
            if expect in ("key", "first_key"):
                if not isinstance(scalar_value, str) or not scalar.startswith(b'"'):
                    return None
                names[-1] = scalar_value
                expect = "colon"
            elif expect in ("value", "first"):
                expect = "next" if open_ else "end"
            else:
                return None
    if expect != "end" or found is None:
        return None
    if value.lstrip(b" \t\n\r").startswith(b"["):
        return Rejection("schema_violation", "expected a JSON object, got list", path="")
    return _nested_too_deep(found)


def _first_error(validator: Any, body: dict[str, Any]) -> Rejection:
    best = None
    for error in validator.iter_errors(body):
        best = error
        break
    if best is None:  # pragma: no cover - is_valid said no, so there is an error
        return Rejection("schema_violation", "the message does not match the schema")
    pointer = "".join(f"/{_pointer_part(part)}" for part in best.instance_path)
    where = f"at {pointer}" if pointer else "at the top level"
    return Rejection("schema_violation", f"{where}: {best.message}", path=pointer)


def parse_time(text: str) -> float | None:
    """RFC 3339 date-time to epoch seconds, or None when it is not one."""
    if _CANONICAL.match(text):
        # the very string _parse_rfc3339 would hand to fromisoformat
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:  # 30 February, hour 24, year 0, ...
            return None
    return _parse_rfc3339(text)


def _parse_rfc3339(text: str) -> float | None:
    """parse_time for any form: lower-case 't' or 'z', a space, an offset, a leap second."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    date, _, minute, second, fraction, offset = match.groups()
    leap = second == "60"  # a leap second is valid only as the last second of a UTC day
    try:
        moment = datetime.fromisoformat(
            f"{date}T{minute}:{'59' if leap else second}{fraction or ''}{offset.upper()}"
        ).timestamp()
    except ValueError:
        return None
    if leap:
        if moment % _DAY < _DAY - 1:
            return None
        moment += 1
    return moment


def _event_time(text: str) -> float | None:
    """An event time: RFC 3339 with the 'T' (no space), as the schema's date-time format."""
    moment = parse_time(text)
    return moment if moment is not None and text[10] in "Tt" else None


def _check_key(key: bytes | None, customer_id: str) -> Rejection | None:
    if key is None:
        return None
    if key == b"":
        return Rejection("key_mismatch", "the message key is empty; use the customer id or no key")
    if key != customer_id.encode():
        shown = key[:64].decode("utf-8", "replace")
        return Rejection(
            "key_mismatch",
            f"the message key {shown!r} differs from customer_id {customer_id!r}",
            path="/customer_id",
        )
    return None


def parse_interaction(
    value: bytes | None,
    key: bytes | None,
    *,
    now: float,
    max_bytes: int,
    future_skew: float,
    headers: Headers = None,
) -> tuple[dict[str, Any], Interaction] | Rejection:
    """Validate one interaction message (plain JSON, or a CloudEvent in structured or binary
    mode); `now` is the processor's clock, for future times."""
    body = _load_object(value, max_bytes)
    if isinstance(body, Rejection):
        return body
    body = _from_cloudevent(body, headers)
    if isinstance(body, Rejection):
        return body
    occurred = body.get("occurred_at")
    moment: float | None = None
    if isinstance(occurred, str):
        moment = _event_time(occurred)
        if moment is None:
            return Rejection(
                "bad_timestamp",
                f"occurred_at {occurred[:64]!r} is not an RFC 3339 date-time with an offset",
                path="/occurred_at",
            )
        if moment < _EARLIEST:
            return Rejection(
                "bad_timestamp", f"occurred_at {occurred!r} is before 1970", path="/occurred_at"
            )
        if moment > now + future_skew:
            return Rejection(
                "bad_timestamp",
                f"occurred_at {occurred!r} is {moment - now:.0f} s in the future "
                f"(allowed clock skew: {future_skew:.0f} s)",
                path="/occurred_at",
            )
    validator = _validator("interaction.schema.json")
    if not validator.is_valid(body):
        return _first_error(validator, body)
    mismatch = _check_key(key, body["customer_id"])
    if mismatch is not None:
        return mismatch
    return body, _enriched(body, moment)


def _from_cloudevent(body: dict[str, Any], headers: Headers) -> dict[str, Any] | Rejection:
    """The interaction inside a CloudEvent; a plain interaction as it is."""
    if not headers and "specversion" not in body:
        return body  # no ce_ headers, no content type: only a specversion makes a CloudEvent
    event = envelope(body, headers)
    if event is None:
        return body
    unwrapped, problem = unwrap(*event)
    if unwrapped is None:
        return Rejection("schema_violation", problem or "not a valid CloudEvent", path="")
    return unwrapped


def interaction_from_body(body: dict[str, Any]) -> Interaction:
    """Build the enriched `Interaction` from a body that already passed validation."""
    return _enriched(body, None)


def _enriched(body: dict[str, Any], occurred_at: float | None) -> Interaction:
    """The `Interaction` of a valid body; `occurred_at` is its time when already parsed."""
    event_type = body["type"]
    get = body.get
    channel = get("channel")
    interaction = get("interaction")
    if interaction is None and channel is not None:
        interaction = "indirect" if channel in INDIRECT_CHANNELS else "direct"
    stage = get("stage") or default_stage(event_type)
    environment = None
    if channel is not None:
        environment = "physical" if channel in PHYSICAL_CHANNELS else "digital"
    return _make_interaction(
        (  # in _INTERACTION_FIELDS' order
            body["event_id"],
            body["customer_id"],
            _parsed_time(body["occurred_at"]) if occurred_at is None else occurred_at,
            event_type,
            channel,
            stage,
            interaction,
            get("dimension") or DEFAULT_DIMENSIONS.get(event_type),
            environment,
            get("nps"),
            get("csat"),
            get("ces"),
            get("rating"),
            get("sentiment"),
            get("ticket_id"),
            get("resolution_seconds"),
            get("amount"),
        )
    )


#: The fields `_enriched` gives an Interaction, in the order it gives them.
_INTERACTION_FIELDS: Final = (
    "event_id",
    "customer_id",
    "occurred_at",
    "type",
    "channel",
    "stage",
    "interaction",
    "dimension",
    "environment",
    "nps",
    "csat",
    "ces",
    "rating",
    "sentiment",
    "ticket_id",
    "resolution_seconds",
    "amount",
)


def _interaction_maker() -> Callable[[tuple[Any, ...]], Interaction]:
    """A function from the values of `_INTERACTION_FIELDS` to the Interaction they make.

    A frozen dataclass's `__init__` sets each field through `object.__setattr__`, which cost
    more than all the rest of building an event; the slots' own setters do the same at half the
    cost. They are used while Interaction is a frozen dataclass with slots, with exactly these
    fields and no `__post_init__`; else the constructor is.
    """
    members = vars(Interaction)
    slots = [
        members[name]
        for name in _INTERACTION_FIELDS
        if isinstance(members.get(name), MemberDescriptorType)
    ]
    params = getattr(Interaction, "__dataclass_params__", None)
    if (
        tuple(field.name for field in fields(Interaction)) != _INTERACTION_FIELDS
        or len(slots) != len(_INTERACTION_FIELDS)
        or not getattr(params, "frozen", False)
        or hasattr(Interaction, "__post_init__")
    ):
        return lambda values: Interaction(**dict(zip(_INTERACTION_FIELDS, values, strict=True)))
    setters = tuple(slot.__set__ for slot in slots)
    new = object.__new__

    def make(values: tuple[Any, ...]) -> Interaction:
        event = new(Interaction)
        for set_field, value in zip(setters, values, strict=True):
            set_field(event, value)
        return event

    return make


_make_interaction: Final = _interaction_maker()


def _parsed_time(text: str) -> float:
    moment = parse_time(text)
    if moment is None:
        raise ValueError(f"occurred_at {text!r} is not an RFC 3339 date-time")
    return moment


def parse_profile(
    value: bytes | None, key: bytes | None, *, max_bytes: int
) -> tuple[dict[str, Any], Profile] | Rejection:
    body = _load_object(value, max_bytes)
    if isinstance(body, Rejection):
        return body
    validator = _validator("customer-profile.schema.json")
    if not validator.is_valid(body):
        return _first_error(validator, body)
    mismatch = _check_key(key, body["customer_id"])
    if mismatch is not None:
        return mismatch
    return body, profile_from_body(body)


def profile_from_body(body: dict[str, Any]) -> Profile:
    return Profile(
        customer_id=body["customer_id"],
        segment=body.get("segment"),
        tier=body.get("tier"),
        lifetime_value=body.get("lifetime_value"),
        region=body.get("region"),
        raw=body,
    )
