"""Dead-letter records: what could not be processed, why, where it came from, and the bytes."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any, Final

import orjson

from streams import __version__
from streams.contract import Rejection
from streams.scoring.interaction import format_time

__all__ = ["MAX_PAYLOAD_BYTES", "dead_letter", "original_key", "original_payload"]

#: Payloads beyond this are cut so the record itself stays under Kafka's default message limit.
MAX_PAYLOAD_BYTES: Final = 600_000
#: ... and once escaped as JSON text, at most this (else the payload goes as base64)
MAX_ESCAPED_BYTES: Final = 800_000


def _text_or_base64(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def dead_letter(
    rejection: Rejection,
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    payload: bytes | None,
    now: float,
    headers: Iterable[tuple[str, bytes]] | None = None,
) -> bytes:
    """The dead-letter record for one rejected message, ready to publish."""
    raw = payload or b""
    truncated = len(raw) > MAX_PAYLOAD_BYTES
    # A cut can split a UTF-8 character; then the cut bytes go as base64.
    text, encoding = _text_or_base64(raw[:MAX_PAYLOAD_BYTES])
    if encoding == "utf-8" and len(orjson.dumps(text)) > MAX_ESCAPED_BYTES:
        # JSON escapes a control character as 6 bytes, a quote as 2: text that escapes beyond
        # the bound goes as base64 (4 bytes for 3), cut to keep the record under Kafka's limit
        cut = MAX_PAYLOAD_BYTES * 3 // 4
        truncated = len(raw) > cut
        text, encoding = base64.b64encode(raw[:cut]).decode("ascii"), "base64"
    key_text, key_encoding = _text_or_base64(key) if key is not None else (None, None)
    record: dict[str, Any] = {
        "error": rejection.error,
        "detail": rejection.detail,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp_ms": timestamp_ms,
            "key": key_text,
            "key_encoding": key_encoding,
        },
        "payload": text,
        "payload_encoding": encoding,
        "payload_truncated": truncated,
        "received_at": format_time(now),
        "processor": f"cx-streams/{__version__}",
    }
    if rejection.path is not None:
        record["path"] = rejection.path
    kept = {
        name: value.decode("utf-8", "replace") for name, value in headers or () if value is not None
    }
    if kept:  # CloudEvents binary mode lives in headers: keep them for a replay
        record["headers"] = kept
    return orjson.dumps(record)


def original_payload(record: dict[str, Any]) -> bytes:
    """The original message bytes of a dead-letter record (for replay)."""
    if record["payload_encoding"] == "base64":
        return base64.b64decode(record["payload"])
    return str(record["payload"]).encode("utf-8")


def original_key(record: dict[str, Any]) -> bytes | None:
    """The original message key of a dead-letter record (for replay)."""
    source = record["source"]
    if source.get("key") is None:
        return None
    if source.get("key_encoding") == "base64":
        return base64.b64decode(source["key"])
    return str(source["key"]).encode("utf-8")
