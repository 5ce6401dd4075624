"""What the core and the boundary emit validates against the published schemas."""

from __future__ import annotations

import time
from pathlib import Path

import jsonschema_rs
import orjson

from streams.contract import Rejection
from streams.deadletter import dead_letter
from streams.scoring.interaction import format_time
from tests.scoring.test_golden import GOLDEN, play

SCHEMAS = Path(__file__).parents[2] / "schemas"


def validator(stem: str) -> jsonschema_rs.Validator:
    body = orjson.loads((SCHEMAS / f"{stem}.schema.json").read_bytes())
    return jsonschema_rs.validator_for(body, validate_formats=True)


def test_score_updates_and_alerts_of_every_golden_journey_follow_the_schemas() -> None:
    import tomllib

    from streams.scoring.engine import score_update
    from streams.scoring.scorecard import DEFAULT_SCORECARD

    scores, alerts = validator("score-update"), validator("alert")
    now = format_time(time.time())
    for path in GOLDEN:
        state, raised = play(tomllib.loads(path.read_text()))
        update = score_update(state, DEFAULT_SCORECARD) | {"updated_at": now}
        scores.validate(update)
        for alert in raised:
            alerts.validate(alert | {"published_at": now})


def test_dead_letter_records_follow_the_schema() -> None:
    records = validator("dead-letter")
    for payload, key in ((b'{"nps": 11}', b"C-1"), (b"\xff\x00", None), (b"x" * 700_000, b"")):
        record = dead_letter(
            Rejection("schema_violation", "detail", "/nps"),
            topic="t",
            partition=0,
            offset=1,
            timestamp_ms=None,
            key=key,
            payload=payload,
            now=time.time(),
        )
        records.validate(orjson.loads(record))
