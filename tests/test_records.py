"""RunRecords by hand: the exact bytes of each file, atomic rewrites, torn lines."""

from lightning_carbon.records import RunRecords

LINE_0 = '{"energy_kWh": 0.5, "epoch": 0, "schema": "lightning-carbon/epoch/2", "stage": "train"}\n'


def test_an_epoch_is_one_sorted_json_line_in_a_folder_made_on_the_way(tmp_path):
    records = RunRecords(tmp_path / "new" / "run")
    records.append_epoch({"stage": "train", "epoch": 0, "energy_kWh": 0.5})
    records.append_epoch({"stage": "test", "energy_kWh": 0.25})
    assert records.epochs_path == tmp_path / "new" / "run" / "carbon" / "epochs.jsonl"
    assert records.epochs_path.read_bytes().decode("utf-8") == (
        LINE_0 + '{"energy_kWh": 0.25, "schema": "lightning-carbon/epoch/2", "stage": "test"}\n'
    )


def test_a_rewrite_replaces_every_line(tmp_path):
    records = RunRecords(tmp_path / "new")
    records.append_epoch({"stage": "train", "epoch": 7})
    records.rewrite_epochs([{"stage": "train", "epoch": 0, "energy_kWh": 0.5}])
    assert records.epochs_path.read_text() == LINE_0
    records.rewrite_epochs([])
    assert records.epochs_path.read_text() == ""
    assert sorted(p.name for p in records.directory.iterdir()) == ["epochs.jsonl"]


def test_torn_lines_are_skipped_and_the_lines_after_them_kept(tmp_path):
    records = RunRecords(tmp_path)
    assert records.read_epochs() == []
    records.directory.mkdir()
    records.epochs_path.write_text(LINE_0 + '{"stage": "tra\n' + LINE_0 + '{"sta')
    assert [r["epoch"] for r in records.read_epochs()] == [0, 0]


def test_the_summary_is_indented_sorted_json_and_the_statement_ends_its_line(tmp_path):
    records = RunRecords(tmp_path / "new")
    records.write_summary({"gco2e": 2.0, "energy_kWh": 1.0})
    assert records.summary_path.read_text() == (
        '{\n  "energy_kWh": 1.0,\n  "gco2e": 2.0,\n  "schema": "lightning-carbon/summary/2"\n}\n'
    )
    records.write_statement("Training used 1 kWh · 2 gCO2e")
    assert records.statement_path.read_bytes().decode("utf-8") == "Training used 1 kWh · 2 gCO2e\n"
    records.write_statement("Two lines\n")
    assert records.statement_path.read_text() == "Two lines\n"
    assert sorted(p.name for p in records.directory.iterdir()) == ["statement.md", "summary.json"]
