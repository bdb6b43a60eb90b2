"""`lightning-carbon demo`: a real short CPU training that prints its statement and file paths."""

import csv
import json

import pytest

from lightning_carbon.cli import main
from lightning_carbon.demo.command import run_demo


@pytest.mark.slow
def test_demo_prints_the_statement_it_wrote_and_where_the_files_are(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--epochs", "2", "--images", "16", "--size", "32", "--country", "DNK"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    carbon_dir = out / "demo" / "version_0" / "carbon"
    statement = (carbon_dir / "statement.md").read_text().strip()
    assert statement in printed
    assert "Denmark" in statement
    assert f"Per-epoch records and summary: {carbon_dir}" in printed
    assert "Forecast after epoch 2: " in printed
    epochs = (carbon_dir / "epochs.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in epochs]
    assert [(r["stage"], r.get("epoch")) for r in records] == [
        ("train", 0),
        ("train", 1),
        ("outside_epochs", None),
    ]
    with open(out / "demo" / "version_0" / "metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("energy/epoch_kWh")]
    assert len(rows) == 2
    summary = json.loads((carbon_dir / "summary.json").read_text())
    assert summary["training"]["epochs"]["energy_kWh"] == pytest.approx(
        sum(float(row["energy/epoch_kWh"]) for row in rows), rel=1e-6
    )
    assert summary["energy_kWh"] == pytest.approx(sum(r["energy_kWh"] for r in records), rel=1e-9)


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_demo_rejects_a_bad_epoch_count(epochs, tmp_path):
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        run_demo(epochs=epochs, output_dir=tmp_path)
