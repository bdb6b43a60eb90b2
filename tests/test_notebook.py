"""notebooks/quickstart.ipynb runs top to bottom in a fresh kernel of this interpreter.

The kernel spec ``python3`` is the one ipykernel installs into the environment; jupyter_client
starts its ``python`` with ``sys.executable``, which the first, injected cell confirms.
"""

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def _text(output):
    if output["output_type"] == "stream":
        return output["text"]
    return "".join(output.get("data", {}).get(kind, "") for kind in ("text/plain", "text/markdown"))


@pytest.mark.slow
def test_quickstart_notebook_executes_and_shows_table_and_plot(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    client.execute(env={**os.environ, "PYTHONPATH": python_path})

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in code for o in cell.outputs if o["output_type"] == "error"]
    texts = ["".join(_text(o) for o in cell.outputs) for cell in code]
    assert texts[0].strip() == sys.executable
    assert "carbon/total_gCO2e" in texts[2] and "Denmark" in texts[2]
    assert "| 32-true | 1 |" in texts[3] and "| bf16-mixed | 1 |" in texts[3]
    assert "Pareto front (cheapest first): F=" in texts[4] and "Pick: F=" in texts[4]
    images = [o for o in code[4].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_the_stored_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
