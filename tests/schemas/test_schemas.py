"""The JSON Schemas in schemas/: valid themselves, their examples, and the processor agrees."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest

from streams.contract import Rejection, parse_interaction, parse_profile
from streams.scoring.scorecard import BANDS, COMPONENTS
from streams.scoring.vocabulary import CHANNELS, DIMENSIONS, EVENT_TYPES, INTERACTIONS, STAGES

SCHEMAS = Path(__file__).parents[2] / "schemas"
STEMS = ["interaction", "customer-profile", "score-update", "alert", "dead-letter"]


def schema(stem: str) -> dict[str, Any]:
    return orjson.loads((SCHEMAS / f"{stem}.schema.json").read_bytes())


def validator(stem: str) -> Any:
    return jsonschema_rs.validator_for(schema(stem), validate_formats=True)


def examples(stem: str, kind: str) -> list[Path]:
    found = sorted((SCHEMAS / "examples" / stem / kind).glob("*.json"))
    assert found, f"no {kind} examples for {stem}"
    return found


def cases(kind: str) -> list[Any]:
    return [
        pytest.param(stem, path, id=f"{stem}/{path.stem}")
        for stem in STEMS
        for path in examples(stem, kind)
    ]


@pytest.mark.parametrize("stem", STEMS)
def test_each_schema_is_valid_draft_2020_12(stem: str) -> None:
    body = schema(stem)
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["$id"].endswith(f"/{stem}.schema.json")
    jsonschema_rs.meta.validate(body)


@pytest.mark.parametrize(("stem", "path"), cases("valid"))
def test_valid_examples_pass(stem: str, path: Path) -> None:
    validator(stem).validate(orjson.loads(path.read_bytes()))


@pytest.mark.parametrize(("stem", "path"), cases("invalid"))
def test_invalid_examples_fail(stem: str, path: Path) -> None:
    assert not validator(stem).is_valid(orjson.loads(path.read_bytes()))


def test_the_interaction_enums_are_the_vocabulary() -> None:
    props = schema("interaction")["properties"]
    assert props["channel"]["enum"] == list(CHANNELS)
    assert props["stage"]["enum"] == list(STAGES)
    assert props["interaction"]["enum"] == list(INTERACTIONS)
    assert props["dimension"]["enum"] == list(DIMENSIONS)
    assert props["type"]["examples"] == list(EVENT_TYPES)
    score = schema("score-update")["properties"]
    assert score["band"]["enum"] == list(BANDS)
    assert score["components"]["required"] == list(COMPONENTS)


NOW = time.mktime((2026, 11, 24, 0, 0, 0, 0, 0, 0))


@pytest.mark.parametrize("path", examples("interaction", "valid"), ids=lambda p: p.stem)
def test_the_processor_accepts_every_valid_interaction(path: Path) -> None:
    result = parse_interaction(path.read_bytes(), None, now=NOW, max_bytes=65536, future_skew=300)
    assert not isinstance(result, Rejection), result


def test_the_processor_gives_each_invalid_interaction_its_code() -> None:
    expected = orjson.loads((SCHEMAS / "examples" / "interaction" / "EXPECTED.json").read_bytes())
    invalid = examples("interaction", "invalid")
    assert set(expected["codes"]) == {p.name for p in invalid}
    for path in invalid:
        result = parse_interaction(
            path.read_bytes(), None, now=NOW, max_bytes=65536, future_skew=300
        )
        assert isinstance(result, Rejection), path.name
        assert result.error == expected["codes"][path.name], (path.name, result)


def test_the_processor_agrees_on_profiles() -> None:
    for path in examples("customer-profile", "valid"):
        assert not isinstance(parse_profile(path.read_bytes(), None, max_bytes=65536), Rejection)
    for path in examples("customer-profile", "invalid"):
        assert isinstance(parse_profile(path.read_bytes(), None, max_bytes=65536), Rejection)
