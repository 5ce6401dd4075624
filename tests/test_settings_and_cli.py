from pathlib import Path

import pytest

from streams.cli import build_parser, main
from streams.settings import Settings


def test_defaults() -> None:
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.web_port == 6066
    assert s.keyed_topic == "cx-streams.keyed"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_KAFKA_BOOTSTRAP", "k1:9092, k2:9093")
    monkeypatch.setenv("CX_TOPIC_ALERTS", "retention.alerts")
    monkeypatch.setenv("CX_WEB_PORT", "7000")
    s = Settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9093"
    assert s.topic_alerts == "retention.alerts"
    assert s.web_port == 7000


def test_bad_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CX_WEB_PORT", "seventy")
    with pytest.raises(SystemExit) as exit_info:
        main(["topics"])
    assert "CX_WEB_PORT" in str(exit_info.value)


def test_every_command_has_help_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["worker"],
        ["generate"],
        ["topics"],
        ["watch"],
        ["scorecard"],
        ["forward"],
        ["dlq", "replay"],
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command, "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and "CX_KAFKA_BOOTSTRAP" in out


def test_unreachable_kafka_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    with pytest.raises(SystemExit) as exit_info:
        main(["topics"])
    assert "cannot reach Kafka at 127.0.0.1:1" in str(exit_info.value)


def test_the_worker_refuses_a_bad_scorecard_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    card = tmp_path / "card.toml"
    card.write_text("[alerts]\ncooldown_hours = -3\n")
    monkeypatch.setenv("CX_SCORECARD", str(card))
    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "--no-create-topics"])
    assert "alerts.cooldown_hours" in str(exit_info.value)


def test_scorecard_prints_the_default_and_checks_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scorecard"]) == 0
    text = capsys.readouterr().out
    card = tmp_path / "card.toml"
    card.write_text(text)
    assert main(["scorecard", "--check", str(card)]) == 0
    assert "valid" in capsys.readouterr().out
