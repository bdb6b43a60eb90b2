"""The figures: one column wide, read back in every format at the dpi asked, and the data
drawn is exactly the records' data.

Records come from :func:`tests.test_report.write_run` (the real ``RunTotals`` schema): per
epoch GPU 0.5 kWh measured, CPU 0.1 kWh and DRAM 0.05 kWh estimated.
"""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from PIL import Image  # noqa: E402

from lightning_carbon import plots  # noqa: E402
from lightning_carbon.records import RunRecords  # noqa: E402
from lightning_carbon.regions import what_if  # noqa: E402
from tests.test_report import write_run  # noqa: E402

OWN = {
    "gco2_per_kWh": 250.0,
    "region": "lab",
    "code": "LAB",
    "year": 2025,
    "source": "meter",
    "basis": "direct",
}


@pytest.fixture
def records(tmp_path):
    write_run(tmp_path / "run", epochs=3, max_epochs=4, test_J=3.6e5)
    return RunRecords(tmp_path / "run").read_epochs()


def _bars(axes):
    return [
        (round(p.get_x() + p.get_width() / 2, 6), p.get_y(), p.get_height(), p.get_hatch() or None)
        for p in axes.patches
    ]


@pytest.mark.parametrize("dpi", [150, 300])
def test_every_format_is_written_and_reads_back_at_the_dpi_asked(records, tmp_path, dpi):
    figure = plots.energy_figure(records)
    assert tuple(figure.get_size_inches()) == (plots.COLUMN_WIDTH_IN, 2.3)
    paths = plots.save(figure, tmp_path / "deep" / "energy", plots.FORMATS, dpi=dpi)
    assert paths == [tmp_path / "deep" / f"energy.{kind}" for kind in ("png", "pdf", "svg")]
    with Image.open(paths[0]) as png:
        assert png.size == (round(3.5 * dpi), round(2.3 * dpi))
        assert png.info["dpi"] == pytest.approx((dpi, dpi), abs=0.05)  # stored per metre
    assert paths[1].read_bytes().startswith(b"%PDF-")
    svg = paths[2].read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and 'width="252pt"' in svg  # 3.5 in


@pytest.mark.parametrize(
    ("formats", "dpi", "match"),
    [
        (("png", "jpg"), 300, r"formats must be one or more of png, pdf, svg .*'jpg'"),
        ((), 300, "formats must be one or more"),
        (("png", "png"), 300, "without repeats"),
        (("png",), 0, "dpi must be a number in"),
        (("png",), True, "dpi must be a number in"),
    ],
)
def test_bad_formats_and_dpi_are_refused_before_writing(records, tmp_path, formats, dpi, match):
    with pytest.raises(ValueError, match=match):
        plots.save(plots.energy_figure(records), tmp_path / "out" / "x", formats, dpi=dpi)
    assert not (tmp_path / "out").exists()


def test_text_is_sized_for_one_column(records):
    figure = plots.energy_figure(records, title="f8")
    axes = figure.axes[0]
    sizes = [axes.title.get_fontsize(), axes.xaxis.label.get_fontsize()]
    sizes += [t.get_fontsize() for t in axes.get_xticklabels()]
    assert max(sizes) <= 8 and min(sizes) >= 5.5


def test_energy_bars_stack_components_and_hatch_estimates(records):
    figure = plots.energy_figure(records)
    axes = figure.axes[0]
    # three training epochs (the test record is left out), in Wh, GPU at the bottom
    expected = [(float(e), 0.0, 500.0, None) for e in range(3)]
    expected += [(float(e), 500.0, 100.0, "////") for e in range(3)]
    expected += [(float(e), 600.0, 50.0, "////") for e in range(3)]
    bars = _bars(axes)
    assert [bar[3] for bar in bars] == [bar[3] for bar in expected]
    assert [v for bar in bars for v in bar[:3]] == pytest.approx(
        [v for bar in expected for v in bar[:3]]
    )
    assert axes.get_ylabel() == "energy (Wh)"
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["GPU", "CPU", "DRAM", "measured", "estimated"]


def test_runs_energy_has_one_bar_per_run_top_to_bottom():
    runs = [
        plots.RunEnergy("a", {"gpu": 2.0, "cpu": 0.5}, {"gpu": "measured", "cpu": "estimated"}),
        plots.RunEnergy("b", {"gpu": 1.0, "cpu": 0.25}, {"gpu": "polled", "cpu": "estimated"}),
    ]
    axes = plots.runs_energy_figure(runs).axes[0]
    bars = [(p.get_y() + p.get_height() / 2, p.get_x(), p.get_width()) for p in axes.patches]
    # GPU of a, GPU of b, then CPU of each on top; a is the upper bar
    expected = [(1.0, 0.0, 2.0), (0.0, 0.0, 1.0), (1.0, 2.0, 0.5), (0.0, 1.0, 0.25)]
    assert [v for bar in bars for v in bar] == pytest.approx([v for bar in expected for v in bar])
    assert [p.get_hatch() or None for p in axes.patches] == [None, "..", "////", "////"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["a", "b"]
    assert axes.get_xlabel() == "energy (kWh)"


def test_carbon_plot_draws_the_totals_and_the_dashed_forecast(records):
    so_far, forecast = plots.carbon_figure(records).axes[0].get_lines()
    train = [r for r in records if r["stage"] == "train"]
    assert list(so_far.get_xdata()) == [0, 1, 2]
    assert list(so_far.get_ydata()) == [r["total_gCO2e"] for r in train]
    assert list(forecast.get_ydata()) == [r["forecast"]["gco2e"] for r in train]
    assert forecast.get_linestyle() == "--" and so_far.get_linestyle() == "-"
    # DNK: 4 epochs of 0.65 kWh forecast after each of the first three
    assert forecast.get_ydata()[0] == pytest.approx(4 * 0.65 * 143.3)


def test_regions_are_sorted_with_the_basis_hatched_and_in_the_legend():
    emissions = what_if(2.0, 1.0, ["WORLD", "DNK", "aws:us-east-1"], own=OWN)
    figure = plots.region_figure(emissions)
    axes = figure.axes[0]
    widths = [p.get_width() for p in axes.patches]
    assert widths == [2.0 * 143.3, 2.0 * 250.0, 2.0 * 367.8, 2.0 * 473.01]  # lowest first
    hatches = [p.get_hatch() or None for p in axes.patches]
    assert hatches == [None, "////", "....", None]  # lifecycle tables, LAB direct, AWS mixed
    assert axes.patches[1].get_facecolor() != axes.patches[0].get_facecolor()  # own grid
    ticks = [t.get_text() for t in axes.get_yticklabels()]
    assert ticks == ["DNK", "LAB", "aws:us-east-1 (deprecated)", "WORLD"]
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["own grid (as run)", "lifecycle basis", "direct basis", "unknown basis"]


def test_tradeoff_draws_points_front_and_pick_on_carbon_and_energy():
    points = [
        plots.TradeoffPoint("F=4", 1.0, 0.80, 0.01),
        plots.TradeoffPoint("F=8", 2.0, 0.85, 0.02),
        plots.TradeoffPoint("F=16", 5.0, 0.84, 0.05),
    ]
    figure = plots.tradeoff_figure(points, "val_dice", front=["F=4", "F=8"], pick="F=8")
    carbon, energy = figure.axes
    (front,) = carbon.get_lines()
    assert list(front.get_xdata()) == [1.0, 2.0] and list(front.get_ydata()) == [0.80, 0.85]
    assert list(energy.get_lines()[0].get_xdata()) == pytest.approx([10.0, 20.0])  # Wh
    assert carbon.get_xlabel() == "emissions (gCO2e)" and energy.get_xlabel() == "energy (Wh)"
    assert [t.get_text() for t in carbon.texts] == ["F=4", "F=8", "F=16"]
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["Pareto front", "pick: F=8"]
    without_energy = plots.tradeoff_figure([plots.TradeoffPoint("a", 1.0, 0.5)], "val_dice")
    assert len(without_energy.axes) == 1 and not without_energy.legends


@pytest.mark.parametrize("plot", [plots.energy_figure, plots.carbon_figure])
def test_no_training_records_raise(plot):
    with pytest.raises(ValueError, match="no training epoch records"):
        plot([{"stage": "test"}])


@pytest.mark.parametrize(
    ("plot", "match"),
    [
        (plots.region_figure, "no regions"),
        (plots.runs_energy_figure, "no runs"),
        (lambda empty: plots.tradeoff_figure(empty, "val_dice"), "no points"),
    ],
)
def test_nothing_to_plot_raises(plot, match):
    with pytest.raises(ValueError, match=match):
        plot([])
