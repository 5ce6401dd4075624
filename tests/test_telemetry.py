"""Metric bookkeeping: each interaction message is counted once in `cx_events`."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streams.telemetry import Telemetry


def _events(t: Telemetry) -> dict[tuple[str, str, str], float]:
    out = {}
    for family in text_string_to_metric_families(t.render().decode()):
        for sample in family.samples:
            if sample.name == "cx_events_total" and sample.value:
                labels = sample.labels
                out[(labels["type"], labels["channel"], labels["outcome"])] = sample.value
    return out


def test_a_too_late_event_is_counted_once() -> None:
    t = Telemetry()
    t.event("login", "app", "too_late")
    t.invalid("too_late", "interactions", counted=True)
    assert _events(t) == {("login", "app", "too_late"): 1.0}


def test_a_malformed_message_is_counted_as_invalid() -> None:
    t = Telemetry()
    t.invalid("invalid_json", "interactions")
    t.invalid("invalid_json", "customers")  # profiles are not interaction events
    assert _events(t) == {("invalid", "none", "dead_lettered"): 1.0}
