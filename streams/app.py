"""Builds the Faust application from `Settings`: topics, the customer state table, agents, views."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TopicT

from streams import transport
from streams.index import CustomerIndex, SilenceWatch
from streams.pseudonyms import Pseudonymizer
from streams.scoring.engine import silence_deadline
from streams.scoring.scorecard import DEFAULT_SCORECARD, Scorecard
from streams.scoring.state import CustomerState
from streams.security import broker_credentials
from streams.settings import Settings
from streams.table import StateTable
from streams.telemetry import Telemetry
from streams.topics import customer_partition

__all__ = ["Processor", "create_processor"]

log = logging.getLogger(__name__)


@dataclass
class Processor:
    """Everything the agents and views share."""

    settings: Settings
    app: faust.App
    card: Scorecard
    table: Any
    keyed: TopicT
    scores: TopicT
    alerts: TopicT
    dlq: TopicT
    telemetry: Telemetry = field(default_factory=Telemetry)
    index: CustomerIndex = field(default_factory=CustomerIndex)
    silence: SilenceWatch = field(default_factory=SilenceWatch)
    #: the newest event time this worker has seen: its event-time clock
    clock: float = 0.0
    ready: bool = False
    pseudonym: Pseudonymizer = field(default_factory=lambda: Pseudonymizer(None))

    def load(self, customer_id: str) -> CustomerState | None:
        """A customer's state, wherever this worker holds it (HTTP lookups)."""
        data = self.table.get(customer_id)
        return self.decode(data) if data is not None else None

    def decode(self, data: bytes) -> CustomerState:
        return CustomerState.from_bytes(data)

    def rebuild_index(self) -> None:
        """Derive the band index and the silence watch from the recovered table."""
        index, silence, card = self.index, self.silence, self.card
        index.clear()
        silence.clear()
        for customer_id, data in self.table.items():
            state = self.decode(data)
            index.observe(customer_id, state.band, state.score)
            if state.event_count:
                self.clock = max(self.clock, state.ref)
                partition = customer_partition(customer_id, self.settings.partitions)
                silence.watch(partition, customer_id, silence_deadline(state, card))
        log.info(
            "customer index rebuilt: %d customers, %d at risk",
            index.tracked(),
            index.at_risk_count(),
        )


def rocksdb_options(memory_mb: int) -> dict[str, int]:
    """Faust's RocksDB options for `memory_mb` per partition: half block cache, half in two
    write buffers."""
    mib = 1024 * 1024
    return {
        "block_cache_size": memory_mb * mib // 2,
        "write_buffer_size": memory_mb * mib // 4,
        "max_write_buffer_number": 2,
    }


def create_processor(settings: Settings, card: Scorecard = DEFAULT_SCORECARD) -> Processor:
    app = faust.App(
        settings.app_id,
        broker=settings.broker_urls,
        broker_credentials=broker_credentials(settings),
        env={},  # every setting comes from Settings: stray variables must not reconfigure us
        autodiscover=False,
        datadir=str(settings.data_dir),
        store="rocksdb://" if settings.store == "rocksdb" else "memory://",
        Table=StateTable,
        processing_guarantee=settings.processing_guarantee,
        broker_client_id=settings.client_id,
        table_standby_replicas=settings.standby_replicas,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        # a batch's output to one partition goes as one producer batch (streams.outbox)
        producer_max_batch_size=512 * 1024,
        broker_max_poll_records=settings.batch_size,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_host,
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
    )
    # Faust and aiokafka can drop input that arrives while a rebalance settles, and Faust's
    # transactions can split an event from its output: see streams.rebalance, .transactions
    transport.install(app)

    def external(name: str) -> TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, internal=False)

    table = app.Table(
        "customers",
        default=None,
        key_type=str,
        value_type=bytes,
        partitions=settings.partitions,
        help="Per-customer experience state (CustomerState bytes).",
        options=rocksdb_options(settings.rocksdb_memory_mb)
        if settings.store == "rocksdb"
        else None,
    )
    # A batch writes up to batch_size states at once: let Faust's changelog buffer take them
    # without a warning and a flush that stops the stream at every batch.
    app.producer.buffer.max_messages = max(app.producer.buffer.max_messages, settings.batch_size)
    processor = Processor(
        settings=settings,
        app=app,
        card=card,
        table=table,
        keyed=external(settings.keyed_topic),
        scores=external(settings.topic_scores),
        alerts=external(settings.topic_alerts),
        dlq=external(settings.topic_dlq),
        pseudonym=Pseudonymizer(settings.pseudonym_key()),
    )
    processor.telemetry.customers_tracked.set_function(processor.index.tracked)
    processor.telemetry.customers_at_risk.set_function(processor.index.at_risk_count)
    processor.telemetry.watch_bands(processor.index.count)

    async def on_recovered() -> None:
        processor.rebuild_index()
        processor.ready = True

    table.on_recover(on_recovered)

    from streams import agents, web  # wiring modules need the processor, not the reverse

    agents.register(processor)
    web.register(processor)
    return processor
