from streams.index import CustomerIndex


def test_the_index_follows_band_changes() -> None:
    index = CustomerIndex()
    index.observe("a", "neutral", 50.0)
    index.observe("b", "at_risk", 40.0)
    index.observe("c", "critical", 20.0)
    assert index.tracked() == 3
    assert index.at_risk_count() == 2
    assert index.lowest(1) == [("c", 20.0)]
    index.observe("c", "neutral", 55.0)
    assert index.count("critical") == 0 and index.count("neutral") == 2
    assert index.lowest(10) == [("b", 40.0)]


def test_rebuild_replaces_everything() -> None:
    index = CustomerIndex()
    index.observe("a", "critical", 10.0)
    index.rebuild([("x", "healthy", 80.0), ("y", None, None)])
    assert index.tracked() == 1 and index.at_risk_count() == 0
