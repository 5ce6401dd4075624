"""Bytes in on the real broker; scores, alerts, dead letters and HTTP answers out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
from aiokafka.partitioner import DefaultPartitioner

from tests.integration.conftest import Worker, make_worker
from tests.integration.journeys import Journey, happy, iso, read_to_end, souring
from tests.integration.kafka_io import Record

SCHEMAS = Path(__file__).parents[2] / "schemas"


def follow_schema(stem: str, records: list[Record]) -> None:
    body = orjson.loads((SCHEMAS / f"{stem}.schema.json").read_bytes())
    validator = jsonschema_rs.validator_for(body, validate_formats=True)
    for record in records:
        validator.validate(record.json())


def by_customer(records: list[Record], customer_id: str) -> list[Any]:
    return [r.json() for r in records if r.key == customer_id.encode()]


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def test_a_souring_customer_gets_a_churn_risk_alert_and_a_happy_one_none(worker: Worker) -> None:
    bad, good = souring(), happy()
    worker.send(
        "customers",
        [
            (
                bad.customer_id.encode(),
                orjson.dumps(
                    {
                        "customer_id": bad.customer_id,
                        "tier": "gold",
                        "lifetime_value": 4200.0,
                        "segment": "consumer",
                        "region": "eu-west",
                    }
                ),
            )
        ],
    )
    worker.send_events(bad.events + good.events)

    def scored(records: list[Record]) -> bool:
        return len(by_customer(records, bad.customer_id)) >= len(bad.events) and len(
            by_customer(records, good.customer_id)
        ) >= len(good.events)

    scores = worker.read("scores", scored)
    assert scored(scores)
    final_bad = by_customer(scores, bad.customer_id)[-1]
    final_good = by_customer(scores, good.customer_id)[-1]
    assert final_bad["band"] in ("at_risk", "critical")
    assert final_good["band"] == "healthy"
    assert final_bad["event_count"] == len(bad.events)

    alerts = worker.read(
        "alerts",
        lambda rs: any(
            r.key == bad.customer_id.encode() and r.json()["kind"] == "churn_risk" for r in rs
        ),
    )
    churn = [a for a in by_customer(alerts, bad.customer_id) if a["kind"] == "churn_risk"]
    assert churn, "no churn_risk alert for the souring customer"
    alert = churn[-1]
    bad_ids = {
        e["event_id"]
        for e in bad.events
        if e["type"]
        in ("delivery_failed", "complaint", "ticket_reopened", "nps_response", "ticket_opened")
    }
    assert {d["event_id"] for d in alert["drivers"]} <= bad_ids | {
        e["event_id"] for e in bad.events
    }
    assert {d["event_id"] for d in alert["drivers"]} & bad_ids
    assert alert["profile"]["tier"] == "gold"
    assert alert["recommended_action"]
    assert by_customer(alerts, good.customer_id) == []
    follow_schema("score-update", scores)
    follow_schema("alert", alerts)

    body = worker.customer(bad.customer_id, len(bad.events))
    assert body["score"] == final_bad["score"]
    assert body["drivers"] and all("reason" in d for d in body["drivers"])
    status, body = worker.get("/at-risk?limit=10")
    assert status == 200
    assert bad.customer_id in [c["customer_id"] for c in body["customers"]]


def test_unknown_customer_is_404_and_bad_ids_are_400(worker: Worker) -> None:
    assert worker.get("/customers/C-never-seen")[0] == 404
    assert worker.get("/customers/" + "x" * 10_000)[0] in (400, 414)
    assert worker.get("/customers/..%2F..%2Fetc%2Fpasswd")[0] in (400, 404)
    assert worker.get("/at-risk?limit=abc")[0] == 400


def test_garbage_goes_to_the_dead_letter_topic_and_valid_events_around_it_are_scored(
    worker: Worker,
) -> None:
    before, after = happy(), happy()
    good = before.events[0]
    garbage: list[tuple[bytes | None, bytes, str]] = [
        (None, b"{not json", "invalid_json"),
        (None, b"\xff\xfe\x00", "invalid_utf8"),
        (
            None,
            orjson.dumps({**good, "event_id": "x1", "nps": 42, "type": "nps_response"}),
            "schema_violation",
        ),
        (
            None,
            orjson.dumps({k: v for k, v in good.items() if k != "customer_id"}),
            "schema_violation",
        ),
        (
            None,
            orjson.dumps({**good, "event_id": "x2", "occurred_at": "yesterday"}),
            "bad_timestamp",
        ),
        (
            None,
            orjson.dumps({**good, "event_id": "x3", "occurred_at": iso(time.time() + 86400 * 365)}),
            "bad_timestamp",
        ),
        (b"someone-else", orjson.dumps({**good, "event_id": "x4"}), "key_mismatch"),
        (None, orjson.dumps({**good, "event_id": "x5", "text": "y" * 200_000}), "too_large"),
        (None, b"[1, 2, 3]", "schema_violation"),
    ]
    worker.send_events(before.events)
    worker.send("interactions", [(key, value) for key, value, _ in garbage])
    worker.send_events(after.events)

    dead = worker.read("dlq", lambda rs: len(rs) >= len(garbage))
    assert sorted(r.json()["error"] for r in dead) == sorted(code for *_, code in garbage)
    for record in dead:
        body = record.json()
        assert body["detail"] and body["source"]["topic"] == worker.topics["interactions"]
        assert body["source"]["offset"] >= 0
    follow_schema("dead-letter", dead)
    payloads = {r.json()["payload"] for r in dead}
    assert "{not json" in payloads

    scores = worker.read(
        "scores",
        lambda rs: all(
            len(by_customer(rs, j.customer_id)) >= len(j.events) for j in (before, after)
        ),
    )
    assert len(by_customer(scores, before.customer_id)) == len(before.events)
    assert len(by_customer(scores, after.customer_id)) == len(after.events)
    assert worker.alive()
    assert worker.get("/healthz")[0] == 200

    metrics = worker.get("/metrics")[1]
    assert 'cx_invalid_events_total{reason="bad_timestamp",topic="interactions"} 2.0' in metrics
    assert before.customer_id not in metrics


def test_unkeyed_events_are_scored_with_the_keyed_ones(worker: Worker) -> None:
    journey = souring()
    worker.send_events(journey.events[:3], keyed=False)
    worker.send_events(journey.events[3:], keyed=True)
    scores = worker.read(
        "scores",
        lambda rs: any(
            r.key == journey.customer_id.encode() and r.json()["event_count"] == len(journey.events)
            for r in rs
        ),
    )
    assert max(u["event_count"] for u in by_customer(scores, journey.customer_id)) == len(
        journey.events
    )


def test_keyed_events_are_scored_where_they_are_read_and_unkeyed_ones_go_through_the_keyed_topic(
    worker: Worker,
) -> None:
    keyed, unkeyed = souring(), happy()
    worker.send_events(keyed.events, keyed=True)
    worker.send_events(unkeyed.events, keyed=False)  # most land off their customer's partition
    scores = worker.read(
        "scores",
        lambda rs: (
            {
                c: max((u["event_count"] for u in by_customer(rs, c)), default=0)
                for c in (keyed.customer_id, unkeyed.customer_id)
            }
            == {keyed.customer_id: len(keyed.events), unkeyed.customer_id: len(unkeyed.events)}
        ),
    )
    assert by_customer(scores, keyed.customer_id)[-1]["event_count"] == len(keyed.events)
    internal = read_to_end(worker.bootstrap, f"{worker.env['CX_APP_ID']}.keyed")
    bodies = [orjson.loads(value)["body"] for _, _, _, value in internal]
    forwarded = {b["customer_id"] for b in bodies if b.get("event_id")}
    assert keyed.customer_id not in forwarded  # no trip for these
    assert unkeyed.customer_id in forwarded


def test_a_duplicate_event_does_not_change_the_score_twice(worker: Worker) -> None:
    journey = happy()
    worker.send_events(journey.events)
    worker.send_events([journey.events[1], journey.events[3]])
    marker = journey.add("login", 0.5, channel="web")
    worker.send_events([marker])
    scores = worker.read(
        "scores",
        lambda rs: any(
            r.key == journey.customer_id.encode() and r.json()["event_count"] >= len(journey.events)
            for r in rs
        ),
    )
    updates = by_customer(scores, journey.customer_id)
    assert len(updates) == len(journey.events)  # the duplicates published nothing
    assert updates[-1]["event_count"] == len(journey.events)


def test_metrics_are_prometheus_text_without_customer_ids(worker: Worker) -> None:
    status, text = worker.get("/metrics")
    assert status == 200
    for name in (
        "cx_events_total",
        "cx_invalid_events_total",
        "cx_alerts_total",
        "cx_event_time_lag_seconds_bucket",
        "cx_customers_tracked",
        "cx_customers_at_risk",
        "cx_score_bucket",
    ):
        assert name in text, name
    assert "C-" not in text
    assert "_created" not in text


def test_a_regular_customer_who_goes_quiet_gets_a_silent_alert(worker: Worker) -> None:
    quiet = Journey(start_hours_ago=12 * 24)
    for _ in range(6):
        quiet.add("login", 24, channel="app")  # daily, from 12 days ago to 6 days ago
    worker.send_events(quiet.events)
    later = happy()  # someone else's events move the event-time clock to now
    worker.send_events(later.events)
    alerts = worker.read(
        "alerts",
        lambda rs: any(
            r.key == quiet.customer_id.encode() and r.json()["kind"] == "silent" for r in rs
        ),
    )
    silent = [a for a in by_customer(alerts, quiet.customer_id) if a["kind"] == "silent"]
    assert len(silent) == 1
    assert silent[0]["drivers"][0]["event_id"] == quiet.events[-1]["event_id"]
    assert "usually active every 1.0 days" in silent[0]["drivers"][0]["reason"]
    assert by_customer(alerts, later.customer_id) == []


def test_under_exactly_once_a_silent_alert_comes_through_from_an_idle_partition(
    bootstrap: str, tmp_path: Path
) -> None:
    """The silence check's tick is new input, sent by a timer: in a transaction it would stay
    invisible to the worker's own read_committed consumer until its partition committed other
    input, and on an idle partition that never happens."""
    partition_of = DefaultPartitioner()
    partitions = [0, 1, 2]  # make_worker's CX_PARTITIONS
    quiet = Journey(start_hours_ago=12 * 24)
    for _ in range(6):
        quiet.add("login", 24, channel="app")
    quiet_partition = partition_of(quiet.customer_id.encode(), partitions, partitions)
    later = happy()
    while partition_of(later.customer_id.encode(), partitions, partitions) == quiet_partition:
        later = happy()  # someone else's events, on another partition, move the clock on
    worker = make_worker(bootstrap, tmp_path)
    worker.env["CX_PROCESSING_GUARANTEE"] = "exactly_once"
    try:
        worker.start()
        worker.send_events(quiet.events)
        worker.read(
            "scores",
            lambda rs: len(by_customer(rs, quiet.customer_id)) == len(quiet.events),
            isolation_level="read_committed",
        )
        worker.send_events(later.events)
        alerts = worker.read(
            "alerts",
            lambda rs: any(a["kind"] == "silent" for a in by_customer(rs, quiet.customer_id)),
            isolation_level="read_committed",
        )
        assert [a["kind"] for a in by_customer(alerts, quiet.customer_id)] == ["silent"]
        assert worker.alive()
    finally:
        worker.stop()


def test_cloudevents_in_structured_and_binary_mode_are_scored(worker: Worker) -> None:
    journey = happy()
    first, second = journey.events[0], journey.events[1]
    structured = {
        "specversion": "1.0",
        "id": first["event_id"],
        "source": "//tests/web",
        "type": f"dev.cx.{first['type']}",
        "subject": journey.customer_id,
        "time": first["occurred_at"],
        "data": {"channel": first["channel"]},
    }
    attributes = {
        "specversion": "1.0",
        "id": second["event_id"],
        "source": "//tests/shop",
        "type": f"dev.cx.{second['type']}",
        "subject": journey.customer_id,
        "time": second["occurred_at"],
    }
    data = {k: v for k, v in second.items() if k not in ("event_id", "type", "occurred_at")}
    key = journey.customer_id.encode()
    worker.send(
        "interactions",
        [
            (key, orjson.dumps(structured), [("content-type", b"application/cloudevents+json")]),
            (key, orjson.dumps(data), [(f"ce_{k}", v.encode()) for k, v in attributes.items()]),
            (key, orjson.dumps({**structured, "id": "ce-broken"} | {"source": ""})),
        ],
    )
    scores = worker.read("scores", lambda rs: len(by_customer(rs, journey.customer_id)) >= 2)
    updates = by_customer(scores, journey.customer_id)
    assert [u["event_count"] for u in updates] == [1, 2]
    dead = worker.read("dlq", lambda rs: any("'source'" in r.json()["detail"] for r in rs))
    assert any("'source'" in r.json()["detail"] for r in dead)


def test_many_customers_interleaved_in_batches_lose_nothing_and_keep_order(
    worker: Worker,
) -> None:
    journeys = []
    for _ in range(300):
        journey = Journey(start_hours_ago=12 * 24)
        for _ in range(6):
            journey.add("login", 24, channel="app")
        journeys.append(journey)
    events = [j.events[i] for i in range(6) for j in journeys]  # customers interleaved
    worker.send_events(events)
    mine = {j.customer_id.encode() for j in journeys}
    scores = worker.read(
        "scores", lambda rs: sum(r.key in mine for r in rs) >= len(events), timeout=120
    )
    seen: dict[bytes, list[str]] = {}
    for record in scores:
        if record.key in mine:
            seen.setdefault(record.key, []).append(record.json()["last_event_at"])
    for journey in journeys:
        assert seen[journey.customer_id.encode()] == [e["occurred_at"] for e in journey.events]
        assert worker.customer(journey.customer_id, 6)["event_count"] == 6
