"""The Kafka transport the worker runs on: Faust's aiokafka transport with our consumer (see
`streams.rebalance`) and our transaction manager (see `streams.transactions`)."""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import rebalance
from streams.transactions import SourceTransactions

__all__ = ["Transport", "install"]


class Transport(faust_aiokafka.Transport):
    Consumer = rebalance.Consumer
    TransactionManager = SourceTransactions


def install(app: faust.App) -> None:
    """Run a new `app` on this transport; call it before anything creates the consumer."""
    app.transport = Transport(app.conf.broker_consumer, app)
    rebalance.install(app)
