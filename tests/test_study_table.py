"""The study's Table 3 from summaries: grouping, measured or forecast, mean +- sample std."""

import json
import math

import pytest

from lightning_carbon.footprint import car_km
from lightning_carbon.intensity.table import country_intensity
from lightning_carbon.study_table import (
    MeanStd,
    fold_figures,
    group_of,
    load_summary,
    study_table,
    table_markdown,
)

GROUP = "Dataset004_Hippocampus/nnUNetTrainer__nnUNetPlans__2d"


def _summary(run_name, kWh, *, pue=1.0, gco2e=None, precision="16-mixed", forecast=None):
    return {
        "run_name": run_name,
        "precision": precision,
        "pue": {"value": pue},
        "epochs": 2,
        "training": {
            "energy_kWh": kWh,
            "gco2e": kWh * pue * 100.0 if gco2e is None else gco2e,
            "epochs": {"count": 2},
        },
        "forecast": forecast,
    }


def _forecast(kWh, *, run_batches=500, total_batches=250_000):
    return {
        "energy_kWh": kWh,
        "gco2e": kWh * 100.0,
        "after_epochs": 2,
        "total_batches": total_batches,
        "run_batches": run_batches,
        "relative_error": None,
    }


def test_folds_of_one_configuration_make_one_row_with_mean_and_sample_std():
    summaries = [
        _summary(f"{GROUP}/fold_{i}", 0.5, forecast=_forecast(kWh))
        for i, kWh in enumerate([2, 4, 9])
    ]
    (row,) = study_table(summaries, regions=["EST", "WORLD"])
    assert row.group == GROUP and row.folds == 3
    assert row.basis == "forecast of 1000 epochs from 2"
    assert row.energy_kWh == MeanStd(5.0, math.sqrt(13.0), 3)  # deviations -3, -1, 4
    assert row.as_run_gco2e.mean == pytest.approx(500.0)
    assert row.as_run_km.mean == pytest.approx(car_km(500.0).value)
    for region in row.regions:
        intensity = country_intensity(region.region)
        assert (region.gco2_per_kWh, region.year) == (intensity.gco2_per_kWh, intensity.year)
        assert region.gco2e.mean == pytest.approx(5.0 * intensity.gco2_per_kWh)
        assert region.gco2e.std == pytest.approx(math.sqrt(13.0) * intensity.gco2_per_kWh)
        assert region.km.mean == pytest.approx(car_km(5.0 * intensity.gco2_per_kWh).value)


def test_each_region_prices_the_facility_energy():
    (row,) = study_table([_summary("run", 2.0, pue=1.5)], regions=["WORLD"])
    world = country_intensity("WORLD").gco2_per_kWh
    assert row.regions[0].gco2e == MeanStd(pytest.approx(3.0 * world), None, 1)
    assert row.energy_kWh == MeanStd(2.0, None, 1)


def test_a_run_that_covered_its_forecast_counts_what_it_measured():
    covered = _forecast(9.0, run_batches=250_000)
    figures = fold_figures(_summary(f"{GROUP}/fold_0", 8.0, forecast=covered))
    assert (figures.basis, figures.energy_kWh, figures.forecast_epochs) == ("measured", 8.0, None)


def test_measured_and_forecast_folds_are_told_apart_and_groups_keep_their_order():
    rows = study_table(
        [
            ("a/fold_0", _summary(f"{GROUP}/fold_0", 1.0)),
            ("lightning", _summary("lightning_logs/version_3", 0.1, precision="32-true")),
            ("a/fold_1", _summary(f"{GROUP}/fold_1", 0.5, forecast=_forecast(3.0))),
        ],
        regions=["DNK"],
    )
    assert [r.group for r in rows] == [GROUP, "lightning_logs/version_3"]
    assert rows[0].basis == "forecast of 1000 epochs from 2; measured (2 epochs)"
    assert rows[0].energy_kWh.mean == 2.0 and rows[0].sources == ("a/fold_0", "a/fold_1")
    assert rows[1].precision == "32-true" and rows[1].energy_kWh.std is None


def test_group_of_a_run_without_a_name_is_its_folder():
    assert group_of({}, "results/D/T__P__2d/fold_all") == "results/D/T__P__2d"
    assert group_of({"run_name": None}, "runs/one") == "runs/one"


def test_a_summary_without_training_is_refused():
    with pytest.raises(ValueError, match="run 'runs/test-only' has no training to count"):
        fold_figures({"training": None}, "runs/test-only")


def test_mean_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one value"):
        MeanStd.of([])


def test_summaries_are_found_from_the_run_its_carbon_folder_or_the_file(tmp_path):
    carbon = tmp_path / "fold_0" / "carbon"
    carbon.mkdir(parents=True)
    (carbon / "summary.json").write_text(json.dumps({"run_name": "x"}))
    for path in (tmp_path / "fold_0", carbon, carbon / "summary.json"):
        assert load_summary(path) == {"run_name": "x"}
    with pytest.raises(FileNotFoundError, match="no summary.json at or under"):
        load_summary(tmp_path / "fold_1")


def test_markdown_table_has_km_per_region_and_its_sources():
    rows = study_table(
        [_summary(f"{GROUP}/fold_{i}", kWh) for i, kWh in enumerate([1.0, 3.0])],
        regions=["DNK", "WORLD"],
    )
    lines = table_markdown(rows).splitlines()
    assert lines[0] == (
        "| configuration | folds | figure | precision | energy per fold | as run | DNK | WORLD |"
    )
    dnk = country_intensity("DNK").gco2_per_kWh
    km = MeanStd.of([car_km(dnk).value, car_km(3 * dnk).value])
    assert lines[2] == (
        f"| {GROUP} | 2 | measured (2 epochs) | 16-mixed | 2 kWh +- 1.41 kWh | "
        f"{MeanStd.of([car_km(100.0).value, car_km(300.0).value]).text()} km (200 +- 141 gCO2e)"
        f" | {km.text()} km | {rows[0].regions[1].km.text()} km |"
    )
    assert any(line.startswith("Car: driving an average new car in the EU") for line in lines)
    assert any(line.startswith(f"DNK: {dnk:.4g} gCO2e/kWh (2024), source: OWID") for line in lines)
    assert table_markdown([]) == "No runs.\n"
