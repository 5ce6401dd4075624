from streams.index import CustomerIndex


def test_the_index_follows_band_changes() -> None:
    index = CustomerIndex()
    index.observe("a", "neutral", 50.0)
    index.observe("b", "at_risk", 40.0)
    index.observe("c", "critical", 20.0)
    assert index.tracked() == 3
    assert index.at_risk_count() == 2
    assert index.lowest(1) == [("c", 20.0)]
    index.observe("c", "neutral", 55.0, was=("critical", 20.0))
    assert index.tracked() == 3
    assert index.count("critical") == 0 and index.count("neutral") == 2
    assert index.distribution() == [0, 0, 0, 0, 1, 2, 0, 0, 0, 0]
    assert index.lowest(10) == [("b", 40.0)]


def test_a_customer_without_a_band_is_not_counted() -> None:
    index = CustomerIndex()
    index.observe("y", None, None)  # a profile, no event yet
    assert index.tracked() == 0 and index.distribution() == [0] * 10


def test_clear_forgets_everything() -> None:
    index = CustomerIndex()
    index.observe("a", "critical", 10.0)
    index.clear()
    index.observe("x", "healthy", 80.0)
    assert index.tracked() == 1 and index.at_risk_count() == 0
    assert index.count("critical") == 0 and index.count("healthy") == 1


def test_silence_watch_hands_out_due_customers_per_partition() -> None:
    from streams.index import SilenceWatch

    watch = SilenceWatch()
    watch.watch(0, "a", 100.0)
    watch.watch(0, "b", 50.0)
    watch.watch(1, "c", 10.0)
    watch.watch(0, "d", None)
    assert watch.next_due(0) == 50.0
    assert watch.pop_due(0, 60.0) == ["b"]
    assert watch.pop_due(0, 60.0) == []
    assert watch.pop_due(1, 1e9) == ["c"]
    assert watch.next_due(1) is None


def test_silence_watch_keeps_one_entry_per_customer() -> None:
    from streams.index import SilenceWatch

    watch = SilenceWatch()
    for deadline in (100.0, 200.0, 300.0):  # each new event moves the deadline later
        watch.watch(0, "a", deadline)
    assert watch.pop_due(0, 150.0) == ["a"]  # due at the earliest; the caller re-checks it
    watch.watch(0, "a", 300.0)
    assert watch.pop_due(0, 250.0) == []
    assert watch.pop_due(0, 300.0) == ["a"]


def test_silence_watch_agrees_with_a_plain_model_over_random_steps() -> None:
    import random

    from streams.index import SilenceWatch

    rng = random.Random(3)
    watch = SilenceWatch()
    model: dict[int, dict[str, float]] = {0: {}, 1: {}}
    for _ in range(5000):
        partition = rng.randrange(2)
        if rng.random() < 0.8:
            customer, deadline = f"c{rng.randrange(50)}", float(rng.randrange(1000))
            watch.watch(partition, customer, deadline)
            known = model[partition].get(customer)
            model[partition][customer] = deadline if known is None else min(known, deadline)
        else:
            clock = float(rng.randrange(1000))
            due = sorted((d, c) for c, d in model[partition].items() if d <= clock)
            assert watch.pop_due(partition, clock) == [c for _, c in due]
            for _, c in due:
                del model[partition][c]
        expected = min(model[partition].values()) if model[partition] else None
        assert watch.next_due(partition) == expected
