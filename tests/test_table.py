"""The customers table as `create_processor` builds it: RocksDB held to its memory budget. No
broker."""

from __future__ import annotations

from pathlib import Path

from streams.app import create_processor
from streams.settings import Settings
from streams.table import StateTable


def test_rocksdb_gets_the_memory_budget_per_partition(tmp_path: Path) -> None:
    settings = Settings(store="rocksdb", data_dir=tmp_path, rocksdb_memory_mb=16)
    table = create_processor(settings).table
    assert isinstance(table, StateTable)
    options = table.data.rocksdb_options
    mib = 1024 * 1024
    assert (options.block_cache_size, options.write_buffer_size) == (8 * mib, 4 * mib)
    assert options.max_write_buffer_number == 2
