"""The PNG plots: fixed pixel size, and the data drawn is exactly the records' data.

Records come from :func:`tests.test_report.write_run` (the real ``RunTotals`` schema): per
epoch GPU 0.5 kWh measured, CPU 0.1 kWh and DRAM 0.05 kWh estimated.
"""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from lightning_carbon import plots  # noqa: E402
from lightning_carbon.records import RunRecords  # noqa: E402
from lightning_carbon.regions import what_if  # noqa: E402
from tests.test_report import _png_size, write_run  # noqa: E402


@pytest.fixture
def records(tmp_path):
    write_run(tmp_path / "run", epochs=3, max_epochs=4, test_J=3.6e5)
    return RunRecords(tmp_path / "run").read_epochs()


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions save, to look at what they drew."""
    saved = []
    save = plots._save

    def keep(figure, path):
        saved.append(figure)
        return save(figure, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def test_every_plot_is_a_png_of_the_fixed_size(records, tmp_path):
    paths = [
        plots.energy_plot(records, tmp_path / "energy.png"),
        plots.carbon_plot(records, tmp_path / "carbon.png"),
        plots.region_plot(what_if(1.0, 1.0), tmp_path / "deep" / "regions.png"),
    ]
    assert paths == [
        tmp_path / "energy.png",
        tmp_path / "carbon.png",
        tmp_path / "deep" / "regions.png",
    ]
    for path in paths:
        assert _png_size(path) == plots.PIXELS == (800, 450)


def test_energy_bars_stack_components_and_hatch_estimates(records, tmp_path, figures):
    plots.energy_plot(records, tmp_path / "energy.png")
    axes = figures[0].axes[0]
    bars = [
        (p.get_x() + p.get_width() / 2, p.get_y(), p.get_height(), p.get_hatch())
        for p in axes.patches
    ]
    # three training epochs (the test record is left out), in Wh, GPU at the bottom
    expected = [(float(e), 0.0, 500.0, None) for e in range(3)]
    expected += [(float(e), 500.0, 100.0, "//") for e in range(3)]
    expected += [(float(e), 600.0, 50.0, "//") for e in range(3)]
    assert [hatch or None for *_, hatch in bars] == [hatch for *_, hatch in expected]
    numbers = [value for bar in bars for value in bar[:3]]
    assert numbers == pytest.approx([value for bar in expected for value in bar[:3]])
    assert axes.get_ylabel() == "energy (Wh)"
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels == ["GPU", "CPU", "DRAM", "measured", "estimated"]


def test_carbon_plot_draws_the_totals_and_the_dashed_forecast(records, tmp_path, figures):
    plots.carbon_plot(records, tmp_path / "carbon.png")
    so_far, forecast = figures[0].axes[0].get_lines()
    train = [r for r in records if r["stage"] == "train"]
    assert list(so_far.get_xdata()) == [0, 1, 2]
    assert list(so_far.get_ydata()) == [r["total_gCO2e"] for r in train]
    assert list(forecast.get_ydata()) == [r["forecast"]["gco2e"] for r in train]
    assert forecast.get_linestyle() == "--" and so_far.get_linestyle() == "-"
    # DNK: 4 epochs of 0.65 kWh forecast after each of the first three
    assert forecast.get_ydata()[0] == pytest.approx(4 * 0.65 * 143.3)


def test_region_plot_marks_own_grid_and_deprecated_rows(tmp_path, figures):
    own = {
        "gco2_per_kWh": 250.0,
        "region": "lab",
        "code": "LAB",
        "year": 2025,
        "source": "meter",
        "basis": "direct",
    }
    emissions = what_if(2.0, 1.0, ["DNK", "aws:us-east-1"], own=own)
    plots.region_plot(emissions, tmp_path / "regions.png")
    axes = figures[0].axes[0]
    widths = [p.get_width() for p in axes.patches]
    assert widths == [2.0 * 250.0, 2.0 * 143.3, 2.0 * 367.8]
    assert [p.get_hatch() or None for p in axes.patches] == [None, None, "xx"]
    assert axes.patches[0].get_facecolor() != axes.patches[1].get_facecolor()
    ticks = dict(
        zip(axes.get_yticks(), (t.get_text() for t in axes.get_yticklabels()), strict=True)
    )
    assert ticks == {2: "LAB", 1: "DNK", 0: "aws:us-east-1"}  # top to bottom as listed


@pytest.mark.parametrize("plot", [plots.energy_plot, plots.carbon_plot])
def test_no_training_records_raise(plot, tmp_path):
    with pytest.raises(ValueError, match="no training epoch records"):
        plot([{"stage": "test"}], tmp_path / "x.png")


def test_no_regions_raise(tmp_path):
    with pytest.raises(ValueError, match="no regions"):
        plots.region_plot([], tmp_path / "x.png")
