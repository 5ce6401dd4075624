"""One batch of input: the output it produced and the customer states it changed.

The rule that keeps a crash from losing an alert: a customer's new state is written to the
table (and so to its changelog) only after every record the batch produced has been
acknowledged by Kafka, and the batch's input is done (its offsets may be committed) only once
those writes are acknowledged too. After a crash, an event read again either finds its effect
in the recovered state, and then its output was acknowledged before, or it does not, and then
it is scored again and produces the same output with the same ids. Writing each customer once
per batch also turns many changelog records into one, as Kafka Streams' record cache does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.types import TP

from streams.outbox import Outbox
from streams.scoring.state import CustomerState
from streams.table import StateTable

__all__ = ["Batch"]


class Batch:
    """Pending output and changed states of one batch, settled together by `settle()`."""

    def __init__(
        self, table: StateTable, decode: Callable[[bytes], CustomerState], app: Any
    ) -> None:
        self._table = table
        self._decode = decode
        self.outbox = Outbox(app)
        self._states: dict[str, CustomerState | None] = {}
        #: customer id -> the input partition that changed it last (its state's partition)
        self._changed: dict[str, TP] = {}

    def load(self, customer_id: str, partition: int) -> CustomerState | None:
        """The customer's state as this batch left it so far (the table's, at first)."""
        states = self._states
        if customer_id in states:
            return states[customer_id]
        data = self._table.read(customer_id, partition)
        state = states[customer_id] = self._decode(data) if data is not None else None
        return state

    def changed(self, state: CustomerState, source: TP) -> None:
        """`state` is the customer's new state, caused by input from `source`."""
        self._states[state.customer_id] = state
        self._changed[state.customer_id] = source

    async def settle(self) -> None:
        """Wait for every output record; then write each changed state once, and wait for
        the changelog to have them. A failed send raises here, before any state is written."""
        await self.outbox.flush()
        if self._changed:
            states = self._states
            rows = []
            for customer_id, source in self._changed.items():
                state = states[customer_id]
                assert state is not None  # changed() is only given states
                rows.append((customer_id, source.partition, state.to_bytes()))
            await self._table.write(rows, {tp.topic for tp in self._changed.values()})
        self._changed.clear()
        self._states.clear()
