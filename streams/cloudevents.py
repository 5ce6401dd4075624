"""CloudEvents 1.0 on Kafka (the Kafka protocol binding): structured and binary content modes.

Structured mode: the message value is a JSON envelope (`specversion`, `id`, `source`, `type`,
...) whose `data` is the interaction; the `content-type` header, when present, is
`application/cloudevents+json`. Binary mode: the attributes are `ce_*` headers and the value is
the interaction itself. Either way the interaction's missing `event_id`, `occurred_at` and
`customer_id` come from the event's `id`, `time` and `subject`, and its missing `type` from the
last dot-separated part of the CloudEvents `type` (`com.example.cx.ticket_opened`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

__all__ = ["REQUIRED", "Headers", "binary_attributes", "envelope", "is_structured", "unwrap"]

#: Attributes every CloudEvent has (CloudEvents 1.0 core).
REQUIRED: Final = ("specversion", "id", "source", "type")
STRUCTURED: Final = "application/cloudevents+json"

Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None


def _header_map(headers: Headers) -> dict[str, bytes]:
    if headers is None:
        return {}
    items: Iterable[tuple[str, bytes]]
    if type(headers) in _PAIR_SEQUENCES:  # what Kafka clients give; the Mapping check is slower
        items = cast("Iterable[tuple[str, bytes]]", headers)
    elif type(headers) is dict or isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    return {name.lower(): value for name, value in items if value is not None}


_PAIR_SEQUENCES: Final = (list, tuple)
#: Headers that give the same pairs however often they are read.
_REREADABLE: Final = (list, tuple, dict)


def binary_attributes(headers: Headers) -> dict[str, str] | None:
    """The CloudEvents attributes of a binary-mode message (`ce_*` headers), or None."""
    return _binary_attributes(_header_map(headers))


def is_structured(body: Mapping[str, Any], headers: Headers) -> bool:
    return _is_structured(body, _header_map(headers))


def envelope(body: dict[str, Any], headers: Headers) -> tuple[Mapping[str, Any], Any] | None:
    """The attributes and data of the CloudEvent a message is (binary mode if it has `ce_*`
    headers, else structured mode), or None when it is a plain interaction."""
    if type(headers) in _REREADABLE:  # what Kafka clients give: read once for both checks
        header_map = _header_map(headers)
        attributes = _binary_attributes(header_map)
        structured = attributes is None and _is_structured(body, header_map)
    else:  # each check reads the headers (an iterator is used up by the first)
        attributes = binary_attributes(headers)
        structured = attributes is None and is_structured(body, headers)
    if attributes is not None:
        return attributes, body
    return (body, body.get("data")) if structured else None


def _binary_attributes(header_map: dict[str, bytes]) -> dict[str, str] | None:
    found = {
        name[3:]: value.decode("utf-8", "replace")
        for name, value in header_map.items()
        if name.startswith("ce_")
    }
    return found or None


def _is_structured(body: Mapping[str, Any], header_map: dict[str, bytes]) -> bool:
    content_type = header_map.get("content-type", b"").decode("utf-8", "replace")
    return content_type.startswith(STRUCTURED) or "specversion" in body


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def unwrap(attributes: Mapping[str, Any], data: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The interaction carried by a CloudEvent, or (None, what is wrong, naming the attribute)."""
    for name in REQUIRED:
        value = attributes.get(name)
        if value is None:
            return None, f"the CloudEvents attribute {name!r} is missing"
        if not isinstance(value, str):
            return None, f"the CloudEvents attribute {name!r} is {_json_type(value)}, not a string"
        if not value:
            return None, f"the CloudEvents attribute {name!r} is empty"
    if attributes["specversion"] != "1.0":
        return None, f"CloudEvents specversion {attributes['specversion']!r} is not 1.0"
    if not isinstance(data, dict):
        return None, "the CloudEvent's data is not a JSON object (an interaction event)"
    body = dict(data)
    body.setdefault("event_id", attributes["id"])
    if isinstance(attributes.get("time"), str):
        body.setdefault("occurred_at", attributes["time"])
    if isinstance(attributes.get("subject"), str):
        body.setdefault("customer_id", attributes["subject"])
    body.setdefault("type", attributes["type"].rsplit(".", 1)[-1])
    body.setdefault("source", attributes["source"][:128])
    return body, None
