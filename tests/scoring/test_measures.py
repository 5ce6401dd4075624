from streams.scoring.measures import (
    ces_easy_share,
    csat_satisfied,
    nps_category,
    nps_of_group,
    window_measures,
)


def test_nps_categories_follow_bain() -> None:
    assert [nps_category(s) for s in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2


def test_nps_of_a_group_counts_passives_in_the_denominator() -> None:
    # 3 promoters, 2 passives, 5 detractors: 30% - 50% = -20
    assert nps_of_group([10, 9, 9, 8, 7, 6, 5, 0, 3, 2]) == -20.0
    assert nps_of_group([10, 10]) == 100.0
    assert nps_of_group([]) is None  # undefined, not 0


def test_csat_satisfied_is_four_or_five() -> None:
    assert [csat_satisfied(s) for s in range(1, 6)] == [False, False, False, True, True]


def test_ces_easy_share_is_five_to_seven() -> None:
    assert ces_easy_share([1, 4, 5, 7]) == 0.5
    assert ces_easy_share([]) is None


def test_window_measures_sum_daily_buckets() -> None:
    day1 = [2, 1, 1, 6, 1, 1, 0, 1, 3600, 5]
    day2 = [2, 2, 1, 2, 0, 2, 1, 1, 7200, 3]
    m = window_measures([day1, day2], "30d")
    assert m["csat_responses_30d"] == 4
    assert m["active_days_30d"] == 2
    assert m["csat_satisfied_rate_30d"] == 0.75
    assert m["ces_mean_30d"] == 4.0
    assert m["ces_easy_share_30d"] == 0.5
    assert m["tickets_opened_30d"] == 3
    assert m["complaints_30d"] == 1
    assert m["ttr_mean_seconds_30d"] == 5400.0


def test_window_measures_with_no_responses_are_none() -> None:
    m = window_measures([], "7d")
    assert m["csat_satisfied_rate_7d"] is None
    assert m["ces_mean_7d"] is None
    assert m["ttr_mean_seconds_7d"] is None
