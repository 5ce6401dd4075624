"""The Kafka transport the worker runs on: Faust's aiokafka transport with our consumer (input in
batches, `streams.intake`, with the remedies of `streams.rebalance`) and our transaction manager
(`streams.transactions`)."""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import intake, rebalance
from streams.transactions import SourceTransactions

__all__ = ["Transport", "install"]


class Transport(faust_aiokafka.Transport):
    Consumer = intake.Consumer
    TransactionManager = SourceTransactions
    #: where the consumer hands its input (`intake.attach`)
    intake: intake.Intake | None = None


def install(app: faust.App) -> None:
    """Run a new `app` on this transport; call it before anything creates the consumer."""
    app.transport = Transport(app.conf.broker_consumer, app)
    rebalance.install(app)
