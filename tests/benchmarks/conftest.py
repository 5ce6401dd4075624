"""The suite's broker fixture, for the benchmark's smoke test (see tests/integration)."""

from tests.integration.conftest import bootstrap

__all__ = ["bootstrap"]
