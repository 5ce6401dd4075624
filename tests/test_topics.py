"""`streams.topics`: a customer's partition is the one Kafka's default partitioner picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from streams.topics import customer_partition, key_partition


def test_a_key_s_partition_is_the_producer_s_choice() -> None:
    partitioner = DefaultPartitioner()
    for count in (1, 3, 8, 24):
        every = list(range(count))
        for i in range(2000):
            key = f"C-{i:06d}".encode()
            assert key_partition(key, count) == partitioner(key, every, every)
    assert customer_partition("C-000042", 8) == key_partition(b"C-000042", 8)
