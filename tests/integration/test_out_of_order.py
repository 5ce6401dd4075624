"""Out-of-order and late input: the same events, in event-time order to one worker and shuffled
within the allowed lateness to another, end in the same scores; later events are dead letters.

What the design makes independent of arrival order, and what it does not (streams/scoring):

- the decayed sums are kept relative to the newest event time, tickets resolve by event time
  with fixed tie-breaks, the latest NPS answer is the newest by event time, counts live in
  event-time day buckets and drivers are ranked by |pull| * 2^(t/h): so the score, the
  components, the breakdowns, the measures, the confidence, the drivers and the event count of
  a customer are the same whatever the order (what the README promises for "the score");
- the band has hysteresis: a score less than the margin above a band's floor keeps the band the
  customer came from, so the band is only order-independent outside those margins;
- alerts are decisions along the way: `churn_risk`, `recovered` and `score_drop` are raised by
  the event that crosses a line, and their `alert_id` names that trigger, so which alerts a
  reordered customer gets depends on the order by design. What does not: a customer who ends
  in a risk band, with enough confidence, has had a `churn_risk` alert whatever the order; and
  a customer's alerts depend only on the order of that customer's own events, not on how other
  customers' events are interleaved with them (silence aside: journeys here are shorter than
  the shortest silence, so there is none).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.scoring.risk import RISK_BANDS
from streams.scoring.scorecard import BANDS, DEFAULT_SCORECARD
from tests.integration.conftest import make_worker
from tests.integration.journeys import (
    Journey,
    epoch,
    interleaved,
    late_event,
    read_to_end,
    scored_customers,
    shuffled_within,
    varied,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

FULL = os.environ.get("CX_FAULTS_SCALE") == "full"
REORDERED = 1200 if FULL else 120  # customers whose own events arrive shuffled
INTERLEAVED = 300 if FULL else 30  # customers whose events keep their order among the others'
CARD = DEFAULT_SCORECARD
LATENESS = CARD.allowed_lateness_seconds
#: journeys shorter than the lateness (any order of one is allowed) and than the shortest
#: silence (no `silent` alert, which follows the worker's clock, not the customer's events)
SPAN_HOURS = min(LATENESS, CARD.silence_min_seconds) / 3600 - 6
TIMEOUT = 900.0 if FULL else 240.0  # for each worker to score everything
ORDER_FREE = (
    *("score", "components", "breakdown", "measures", "confidence", "event_count"),
    *("drivers", "last_event_at"),
)


def band_margin_of(score: float) -> bool:
    """Whether the score is in a hysteresis margin (the band then depends on the path)."""
    return any(
        CARD.band_floor(band) <= score < CARD.band_floor(band) + CARD.band_margin
        for band in BANDS
        if CARD.band_floor(band) > 0
    )


def raw_band(score: float) -> str:
    return max((b for b in BANDS if score >= CARD.band_floor(b)), key=CARD.band_floor)


def alerts_by_customer(bootstrap: str, topic: str) -> dict[str, set[tuple[str, str]]]:
    """Each customer's alerts as (alert_id, kind); a repeated alert_id counts once."""
    out: dict[str, set[tuple[str, str]]] = {}
    for _key, _partition, _offset, value in read_to_end(bootstrap, topic):
        alert = orjson.loads(value)
        out.setdefault(alert["customer_id"], set()).add((alert["alert_id"], alert["kind"]))
    return out


@pytest.mark.timeout(3 * TIMEOUT)
def test_shuffled_within_the_lateness_gives_the_same_scores_and_late_events_are_dead_letters(
    bootstrap: str, tmp_path: Path
) -> None:
    seed = os.environ.get("CX_FAULTS_SEED") or uuid.uuid4().hex[:8]
    print(f"seed {seed}")
    reordered = [varied(f"{seed}-r{i}", SPAN_HOURS) for i in range(REORDERED)]
    kept = [varied(f"{seed}-k{i}", SPAN_HOURS) for i in range(INTERLEAVED)]
    journeys: list[Journey] = reordered + kept
    # a quarter of the customers also get an event from beyond the lateness, sent after all of
    # their own events: it must change nothing and end in the dead-letter topic as too_late
    late = {
        j.customer_id: late_event(j, LATENESS / 3600 + 1 + i % 12)
        for i, j in enumerate(journeys)
        if i % 4 == 0
    }
    # and another quarter of the reordered ones an event just within it (15 minutes short),
    # sent after their newest: scored like any other
    edge = {
        j.customer_id: late_event(j, LATENESS / 3600 - 0.25, kind="nps_response")
        for i, j in enumerate(reordered)
        if i % 4 == 2
    }
    for event in edge.values():
        event["nps"] = 3
    expected = {j.customer_id: len(j.events) + (j.customer_id in edge) for j in journeys}

    everything = [e for j in journeys for e in j.events] + list(edge.values())
    in_order = sorted(everything, key=lambda e: epoch(e["occurred_at"])) + list(late.values())
    # each reordered customer's events delayed by up to 95% of the lateness, the others kept
    # in order; all customers' sequences interleaved at random; the edge and late events after
    # their customer's other events
    sequences = [
        shuffled_within(j.events, 0.95 * LATENESS, f"{seed}-s{i}") for i, j in enumerate(reordered)
    ]
    sequences += [list(j.events) for j in kept]
    for sequence in sequences:
        customer = sequence[0]["customer_id"]
        sequence += [extra[customer] for extra in (edge, late) if customer in extra]
    shuffled = interleaved(sequences, f"{seed}-mix")
    assert sorted(e["event_id"] for e in shuffled) == sorted(e["event_id"] for e in in_order)
    disorder = max_lateness(shuffled, late)
    print(
        f"{len(journeys)} customers, {len(everything)} events, {len(late)} too late; "
        f"largest lateness in the shuffled stream {disorder / 3600:.1f} h"
    )
    assert LATENESS - 3600 < disorder <= LATENESS

    ordered_worker = make_worker(bootstrap, tmp_path / "ordered")
    shuffled_worker = make_worker(bootstrap, tmp_path / "shuffled")
    for worker in (ordered_worker, shuffled_worker):
        worker.log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        ordered_worker.start()
        shuffled_worker.start()
        ordered_worker.send_events(in_order)
        shuffled_worker.send_events(shuffled)
        a = scored_customers(ordered_worker, expected, TIMEOUT)
        b = scored_customers(shuffled_worker, expected, TIMEOUT)
        print(f"both scored in {time.monotonic() - started:.0f} s after start")

        # too late: exactly the late events, with their code, in each dead-letter topic
        late_ids = {e["event_id"] for e in late.values()}
        for worker in (ordered_worker, shuffled_worker):
            dead = [orjson.loads(r[3]) for r in read_to_end(bootstrap, worker.topics["dlq"])]
            codes = {d["error"] for d in dead}
            ids = {orjson.loads(d["payload"])["event_id"] for d in dead}
            assert ids == late_ids and codes == {"too_late"}, (codes, ids ^ late_ids)

        # the same final state, field by field, for every customer
        for journey in journeys:
            customer = journey.customer_id
            for key in ORDER_FREE:
                assert a[customer][key] == b[customer][key], (customer, key)
            assert a[customer]["event_count"] == expected[customer]
            score = a[customer]["score"]
            if band_margin_of(score):
                allowed = {raw_band(score), raw_band(score - CARD.band_margin)}
                assert {a[customer]["band"], b[customer]["band"]} <= allowed, customer
            else:
                assert a[customer]["band"] == b[customer]["band"] == raw_band(score), customer

        # alerts: what does not depend on the order of a customer's own events
        must_alert = {
            j.customer_id
            for j in journeys
            if raw_band(a[j.customer_id]["score"]) in RISK_BANDS
            and a[j.customer_id]["confidence"] >= CARD.min_alert_confidence
        }
        kept_ids = {j.customer_id for j in kept}

        def complete(mine: dict[str, set[tuple[str, str]]]) -> bool:
            return all(any(k == "churn_risk" for _, k in mine.get(c, ())) for c in must_alert)

        # a customer's state is written once its output is acknowledged, so by now every
        # alert is in the topic
        alerts_a = alerts_by_customer(bootstrap, ordered_worker.topics["alerts"])
        alerts_b = alerts_by_customer(bootstrap, shuffled_worker.topics["alerts"])
        assert complete(alerts_a) and complete(alerts_b), must_alert
        for customer in kept_ids:
            assert alerts_b.get(customer) == alerts_a.get(customer), customer
        kinds = {k for mine in (alerts_a, alerts_b) for pairs in mine.values() for _, k in pairs}
        assert kinds <= {"churn_risk", "recovered", "score_drop"}, kinds
        assert set(alerts_a) | set(alerts_b) <= set(expected)
        same = sum(alerts_a.get(j.customer_id) == alerts_b.get(j.customer_id) for j in reordered)
        print(
            f"{len(must_alert)} customers end at risk, each alerted in both orders; "
            f"{sum(map(len, alerts_a.values()))} alerts in order, "
            f"{sum(map(len, alerts_b.values()))} shuffled; "
            f"reordered customers with the very same alerts: {same} of {len(reordered)}"
        )
        assert ordered_worker.alive() and shuffled_worker.alive()
    except BaseException:
        for worker in (ordered_worker, shuffled_worker):
            print(worker.log_tail())
        raise
    finally:
        ordered_worker.stop()
        shuffled_worker.stop()
        print(f"took {time.monotonic() - started:.0f} s")


def max_lateness(stream: list[dict[str, Any]], late: dict[str, dict[str, Any]]) -> float:
    """The most any event of `stream` (the late ones aside) is older than its customer's newest
    event sent before it."""
    late_ids = {e["event_id"] for e in late.values()}
    newest: dict[str, float] = {}
    worst = 0.0
    for event in stream:
        if event["event_id"] in late_ids:
            continue
        t, customer = epoch(event["occurred_at"]), event["customer_id"]
        worst = max(worst, newest.get(customer, t) - t)
        newest[customer] = max(newest.get(customer, t), t)
    return worst
