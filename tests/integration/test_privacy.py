"""With CX_PSEUDONYMIZE_KEY, customer ids stay out of everything the processor emits."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.integration.conftest import make_worker
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
