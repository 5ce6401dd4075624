"""With several workers, `GET /customers/{id}` reaches the worker that holds the customer's state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from tests.integration.conftest import make_worker, same_group
from tests.integration.journeys import souring

PARTITIONS = [0, 1, 2]  # make_worker's CX_PARTITIONS


def test_with_two_workers_both_answer_for_every_customer_from_its_owner(
    bootstrap: str, tmp_path: Path
) -> None:
    """A customer's state lives in the partition its events are keyed to (the raw id's). Faust's
    table routing hashes the changelog's JSON key instead ('"C-person-1"'), which names another
    partition for most of these customers, and sent many lookups to the worker without the
    state: a 404 from both workers."""
    partition_of = DefaultPartitioner()
    journeys = [souring(f"C-person-{i}") for i in range(12)]
    raw = [partition_of(j.customer_id.encode(), PARTITIONS, PARTITIONS) for j in journeys]
    as_json = [partition_of(orjson.dumps(j.customer_id), PARTITIONS, PARTITIONS) for j in journeys]
    assert raw != as_json and len(set(raw)) == len(PARTITIONS)  # the test can tell them apart

    (tmp_path / "first").mkdir()
    first = make_worker(bootstrap, tmp_path / "first")
    second = same_group(first, tmp_path / "second")
    try:
        first.start()
        second.start()
        for worker in (first, second):  # both in the group, partitions spread over the two
            worker.wait_healthy(assigned=True)
        for journey in journeys:
            first.send_events(journey.events)
        first.read("scores", lambda rs: len(rs) >= sum(len(j.events) for j in journeys))
        tracked = [worker.get("/stats")[1]["tracked"] for worker in (first, second)]
        assert min(tracked) > 0, tracked  # each worker scored some: lookups are forwarded

        def answer(body: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in body.items() if k != "as_of"}

        for journey in journeys:
            bodies = [
                answer(worker.customer(journey.customer_id, len(journey.events)))
                for worker in (first, second)
            ]
            assert bodies[0]["customer_id"] == journey.customer_id
            assert bodies[0]["event_count"] == len(journey.events)
            assert bodies[0] == bodies[1]  # one state, whichever worker is asked
    except BaseException:
        print(first.log_tail(), second.log_tail(), sep="\n")
        raise
    finally:
        second.stop()
        first.stop()
