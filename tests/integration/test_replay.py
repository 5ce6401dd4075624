"""`cx-streams dlq replay` re-publishes chosen dead-letter records to where they came from."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest

from streams.contract import Rejection
from streams.deadletter import dead_letter
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.kafka_io import produce, read_until


@pytest.fixture
def env(bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "CX_KAFKA_BOOTSTRAP": bootstrap,
        "CX_TOPIC_INTERACTIONS": f"r{suffix}.interactions",
        "CX_TOPIC_CUSTOMERS": f"r{suffix}.customers",
        "CX_TOPIC_SCORES": f"r{suffix}.scores",
        "CX_TOPIC_ALERTS": f"r{suffix}.alerts",
        "CX_TOPIC_DLQ": f"r{suffix}.dlq",
        "CX_APP_ID": f"r{suffix}",
        "CX_PARTITIONS": "2",
    }
    for key, value in names.items():
        monkeypatch.setenv(key, value)
    asyncio.run(ensure_topics(Settings()))
    return names


def record(
    env: dict[str, str],
    error: str,
    payload: bytes,
    key: bytes | None,
    headers: list[tuple[str, bytes]] | None = None,
    topic: str | None = None,
) -> bytes:
    return dead_letter(
        Rejection(error, "test"),
        topic=topic or env["CX_TOPIC_INTERACTIONS"],
        partition=0,
        offset=1,
        timestamp_ms=None,
        key=key,
        payload=payload,
        now=time.time(),
        headers=headers,
    )


def replay(env: dict[str, str], *args: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CX_")} | env
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "dlq", "replay", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_replay_chooses_by_error_and_keeps_keys_and_headers(
    bootstrap: str, env: dict[str, str]
) -> None:
    ce = [("ce_id", b"evt-9"), ("ce_source", b"//shop")]
    produce(
        bootstrap,
        env["CX_TOPIC_DLQ"],
        [
            (b"C-1", record(env, "schema_violation", b'{"fixed": 1}', b"C-1")),
            (None, record(env, "bad_timestamp", b'{"fixed": 2}', None, ce)),
            (None, record(env, "schema_violation", b"\xff\x00binary", b"\xfe")),
            (None, record(env, "schema_violation", b"x" * 700_000, None)),
            (None, record(env, "invalid_json", b"{", None, topic="somebody.else")),
        ],
    )
    out = replay(env, "--dry-run")
    assert "would re-publish 3 of 5" in out
    assert "skipped 1: payload was cut" in out and "skipped 1: source is not an input topic" in out
    assert read_until(bootstrap, env["CX_TOPIC_INTERACTIONS"], lambda rs: False, timeout=3) == []

    assert "re-published 2 of 5" in replay(env, "--error", "schema_violation")
    first = read_until(bootstrap, env["CX_TOPIC_INTERACTIONS"], lambda rs: len(rs) >= 2)
    assert sorted((r.key, r.value) for r in first) == [
        (b"C-1", b'{"fixed": 1}'),
        (b"\xfe", b"\xff\x00binary"),
    ]

    assert "re-published 1 of 5" in replay(env, "--error", "bad_timestamp")
    every = read_until(bootstrap, env["CX_TOPIC_INTERACTIONS"], lambda rs: len(rs) >= 3)
    (replayed,) = [r for r in every if r.value == b'{"fixed": 2}']
    assert replayed.key is None and set(ce) <= set(replayed.headers)


def test_replay_refuses_unknown_codes_and_times(env: dict[str, str]) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CX_")} | env
    for args, words in (
        (["--error", "oops"], "unknown error code"),
        (["--since", "last tuesday"], "not an RFC 3339"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli", "dlq", "replay", *args],
            env=full,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0 and words in result.stderr
