"""A restarted worker resumes with the same scores, from the changelog."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import make_worker
from tests.integration.journeys import souring


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_a_restarted_worker_resumes_with_the_same_scores(
    bootstrap: str, tmp_path: Path, store: str
) -> None:
    worker = make_worker(bootstrap, tmp_path)
    worker.env["CX_STORE"] = store
    worker.start()
    try:
        journey = souring()
        worker.send_events(journey.events)
        worker.read(
            "scores",
            lambda rs: (
                sum(r.key == journey.customer_id.encode() for r in rs) >= len(journey.events)
            ),
        )
        before = worker.customer(journey.customer_id, len(journey.events))
        worker.stop()
        worker.start()
        status, after = worker.get(f"/customers/{journey.customer_id}")
        assert status == 200, after
        for key in ("score", "band", "components", "measures", "event_count", "drivers"):
            assert after[key] == before[key], key
        rocks_files = list((tmp_path / "data").rglob("CURRENT"))
        assert bool(rocks_files) == (store == "rocksdb")
        # and the duplicate check survived the restart too
        worker.send_events(journey.events[-1:])
        extra = journey.add("login", 0.2, channel="web")
        worker.send_events([extra])
        mine = journey.customer_id.encode()
        scores = worker.read(
            "scores",
            lambda rs: any(
                r.key == mine and r.json()["last_event_at"] == extra["occurred_at"] for r in rs
            ),
        )
        last = [r.json() for r in scores if r.key == mine][-1]
        assert last["last_event_at"] == extra["occurred_at"]
        assert last["event_count"] == len(journey.events)  # the replayed duplicate did not count
    except BaseException:
        print(worker.log_tail())
        raise
    finally:
        worker.stop()


pytestmark = pytest.mark.integration
