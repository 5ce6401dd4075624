"""With CX_PSEUDONYMIZE_KEY, customer ids stay out of everything the processor emits."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.integration.conftest import make_worker, same_group
from tests.integration.journeys import souring


def test_customer_ids_are_pseudonymized_in_scores_and_alerts(
    bootstrap: str, tmp_path: Path
) -> None:
    worker = make_worker(bootstrap, tmp_path)
    worker.env["CX_PSEUDONYMIZE_KEY"] = "a-long-random-secret"
    worker.start()
    try:
        journey = souring("C-jane.doe@example.com")
        worker.send(
            "customers",
            [
                (
                    journey.customer_id.encode(),
                    orjson.dumps(
                        {
                            "customer_id": journey.customer_id,
                            "tier": "gold",
                            "attributes": {"name": "Jane Doe"},
                        }
                    ),
                )
            ],
        )
        worker.send_events(journey.events)
        scores = worker.read("scores", lambda rs: len(rs) >= len(journey.events))
        alerts = worker.read("alerts", lambda rs: len(rs) >= 1)
        emitted = b"".join(r.value + (r.key or b"") for r in scores + alerts)
        assert b"jane" not in emitted.lower() and b"Jane Doe" not in emitted
        pseudonym = scores[0].json()["customer_id"]
        assert pseudonym.startswith("px-") and {r.key for r in scores} == {pseudonym.encode()}
        assert alerts[0].json()["profile"] == {"customer_id": pseudonym, "tier": "gold"}
        status, body = worker.get(
            f"/customers/{journey.customer_id}"
        )  # support looks up the real id
        assert status == 200 and body["customer_id"] == pseudonym
    except BaseException:
        print(worker.log_tail())
        raise
    finally:
        worker.stop()


def test_with_two_workers_either_one_finds_a_customer_by_real_id(
    bootstrap: str, tmp_path: Path
) -> None:
    """The request goes to the worker that owns the pseudonym's partition, not the real id's."""
    (tmp_path / "first").mkdir()
    first = make_worker(bootstrap, tmp_path / "first")
    first.env["CX_PSEUDONYMIZE_KEY"] = "a-long-random-secret"
    second = same_group(first, tmp_path / "second")
    journeys = [souring(f"C-person-{i}") for i in range(12)]
    try:
        first.start()
        second.start()
        for worker in (first, second):  # both in the group, partitions spread over the two
            worker.wait_healthy(assigned=True)
        for journey in journeys:
            first.send_events(journey.events)
        first.read("scores", lambda rs: len(rs) >= sum(len(j.events) for j in journeys))
        for worker in (first, second):
            for journey in journeys:
                body = worker.customer(journey.customer_id, len(journey.events))
                assert body["customer_id"].startswith("px-")
    except BaseException:
        print(first.log_tail(), second.log_tail(), sep="\n")
        raise
    finally:
        second.stop()
        first.stop()
