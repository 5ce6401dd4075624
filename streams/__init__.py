"""cx-streams: live customer-experience scores and churn alerts from Kafka interaction events."""

__version__ = "0.1.0"

__all__ = ["__version__"]
