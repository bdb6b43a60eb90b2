"""Time alignment of intensity with time and energy: exact arithmetic on scripted points."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lightning_carbon.intensity.series import (
    IntensityPoint,
    IntensitySeries,
    WindowMean,
    as_utc,
    clip_samples,
)

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def point(start_min: float, end_min: float, value: float, source: str = "grid") -> IntensityPoint:
    return IntensityPoint(at(start_min), at(end_min), value, source, "direct")


# [0, 10) = 100, [10, 20) = 200, [20, 30) = 400 g/kWh
STEPS = IntensitySeries([point(20, 30, 400.0), point(0, 10, 100.0), point(10, 20, 200.0)])


def test_points_are_sorted_and_bound_the_series():
    assert [p.gco2_per_kWh for p in STEPS.points] == [100.0, 200.0, 400.0]
    assert (STEPS.start, STEPS.end, len(STEPS)) == (at(0), at(30), 3)


def test_time_weighted_mean_over_part_of_three_points():
    # 5 min at 100, 10 min at 200, 5 min at 400, over 20 min
    assert STEPS.mean_over(at(5), at(25)) == WindowMean(
        gco2_per_kWh=(5 * 100 + 10 * 200 + 5 * 400) / 20,
        covered_fraction=1.0,
        sources=("grid",),
        bases=("direct",),
    )
    assert STEPS.mean_over(at(5), at(25)).gco2_per_kWh == 225.0


def test_window_inside_one_point_is_that_point():
    assert STEPS.mean_over(at(11), at(12)).gco2_per_kWh == 200.0


def test_gap_uses_the_fallback_and_says_how_much():
    mean = STEPS.mean_over(at(20), at(40), fallback_gco2_per_kWh=50.0)
    assert mean.gco2_per_kWh == (10 * 400 + 10 * 50) / 20
    assert mean.covered_fraction == 0.5


def test_gap_without_fallback_averages_the_covered_time_only():
    mean = STEPS.mean_over(at(20), at(40))
    assert (mean.gco2_per_kWh, mean.covered_fraction) == (400.0, 0.5)


def test_gap_between_points_is_filled():
    series = IntensitySeries([point(0, 10, 100.0), point(20, 30, 300.0)])
    mean = series.mean_over(at(0), at(30), fallback_gco2_per_kWh=1000.0)
    assert mean.gco2_per_kWh == (10 * 100 + 10 * 1000 + 10 * 300) / 30
    assert mean.covered_fraction == pytest.approx(2 / 3)


def test_window_with_no_data_and_no_fallback_raises():
    with pytest.raises(ValueError, match="no intensity data between 2024-06-01T13:00"):
        STEPS.mean_over(at(60), at(70))


def test_window_with_no_data_uses_only_the_fallback():
    mean = STEPS.mean_over(at(60), at(70), fallback_gco2_per_kWh=42.0)
    assert mean == WindowMean(42.0, 0.0, (), ())


def test_zero_length_window_is_the_value_in_force():
    assert STEPS.mean_over(at(10), at(10)).gco2_per_kWh == 200.0  # starts are inclusive
    assert STEPS.mean_over(at(30), at(30), fallback_gco2_per_kWh=7.0).gco2_per_kWh == 7.0


def test_reversed_window_raises():
    with pytest.raises(ValueError, match="window ends before it starts"):
        STEPS.mean_over(at(10), at(5))


def test_sources_and_bases_of_the_points_used():
    series = IntensitySeries(
        [
            point(0, 10, 100.0, "a"),
            IntensityPoint(at(10), at(20), 200.0, "b", "lifecycle"),
            point(20, 30, 300.0, "a"),
        ]
    )
    mean = series.mean_over(at(0), at(30))
    assert (mean.sources, mean.bases) == (("a", "b"), ("direct", "lifecycle"))
    assert series.mean_over(at(0), at(10)).sources == ("a",)


def test_energy_weighted_mean():
    # sample A over [0, 20): 1000 J, sees (100 + 200) / 2 = 150;
    # sample B over [20, 30): 3000 J at 400
    mean = STEPS.energy_weighted([(at(0), at(20), 1000.0), (at(20), at(30), 3000.0)])
    assert mean.gco2_per_kWh == (1000 * 150 + 3000 * 400) / 4000
    assert mean.gco2_per_kWh == 337.5
    assert STEPS.mean_over(at(0), at(30)).gco2_per_kWh == pytest.approx(700 / 3)  # time-weighted


def test_energy_weighted_with_a_gap_counts_the_fallback_share_in_energy():
    # [25, 35): half at 400, half at the 100 fallback -> 250; [0, 10): 100
    mean = STEPS.energy_weighted(
        [(at(0), at(10), 1000.0), (at(25), at(35), 3000.0)], fallback_gco2_per_kWh=100.0
    )
    assert mean.gco2_per_kWh == (1000 * 100 + 3000 * 250) / 4000
    assert mean.covered_fraction == (1000 * 1.0 + 3000 * 0.5) / 4000


def test_energy_weighted_ignores_samples_without_energy():
    mean = STEPS.energy_weighted([(at(0), at(10), 0.0), (at(20), at(30), 5.0)])
    assert (mean.gco2_per_kWh, mean.sources) == (400.0, ("grid",))


@pytest.mark.parametrize("energy_J", [-1.0, float("nan"), float("inf")])
def test_energy_weighted_refuses_bad_energy(energy_J):
    with pytest.raises(ValueError, match=r"finite energy >= 0 J, got \(datetime"):
        STEPS.energy_weighted([(at(0), at(10), energy_J)])


def test_energy_weighted_refuses_no_energy():
    with pytest.raises(ValueError, match=r"hold no energy \(sum 0.0 J\)"):
        STEPS.energy_weighted([(at(0), at(10), 0.0)])


def test_clip_samples_scales_energy_by_the_time_kept():
    clipped = clip_samples(
        [(at(0), at(20), 1000.0), (at(25), at(35), 600.0), (at(40), at(50), 9.0)], at(5), at(30)
    )
    assert clipped == [(at(5), at(20), 750.0), (at(25), at(30), 300.0)]


def test_clip_samples_keeps_an_instant_inside_the_window():
    assert clip_samples([(at(5), at(5), 2.0)], at(0), at(10)) == [(at(5), at(5), 2.0)]
    assert clip_samples([(at(10), at(10), 2.0)], at(0), at(10)) == []


def test_overlapping_points_are_refused():
    with pytest.raises(ValueError, match="intensity points overlap: 2024-06-01T12:00:00"):
        IntensitySeries([point(0, 10, 1.0), point(5, 15, 2.0)])


def test_point_validation():
    with pytest.raises(ValueError, match="must end after it starts"):
        point(10, 10, 1.0)
    with pytest.raises(ValueError, match=r"finite number >= 0 g/kWh, got -1.0"):
        point(0, 10, -1.0)


def test_naive_times_are_utc_and_aware_ones_are_converted():
    cet = timezone(timedelta(hours=1))
    p = IntensityPoint(datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 14, tzinfo=cet), 1.0, "", "")
    assert (p.start, p.end) == (
        datetime(2024, 1, 1, 12, tzinfo=timezone.utc),
        datetime(2024, 1, 1, 13, tzinfo=timezone.utc),
    )
    assert as_utc(datetime(2024, 1, 1, tzinfo=cet)).hour == 23


def test_empty_series_has_no_bounds():
    with pytest.raises(ValueError, match="no points"):
        _ = IntensitySeries([]).start
