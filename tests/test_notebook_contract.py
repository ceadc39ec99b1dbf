"""Every claim notebook keeps the notebook contract (see DESIGN.md and the runner)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import nbformat
import pytest
import yaml
from papermill.translators import PythonTranslator

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("c[0-9][0-9]_*.ipynb"))


def _parameters_cell(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cell"
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell is not tagged"
    return code[0]


def test_there_are_claim_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell(path, caplog):
    nb = nbformat.read(path, as_version=4)
    cell = _parameters_cell(nb)
    with caplog.at_level(logging.WARNING):
        names = [p.name for p in PythonTranslator.inspect(cell)]
    # papermill could read every line (its parser trips on some comments, e.g. a quote in one)
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()]
    for required in ("profile", "seeds", "output_dir"):
        assert required in names
    values = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    assert values["profile"] == "quick"
    assert values["output_dir"] is None
    assert len(values["seeds"]) >= 3, "the register asks for at least 3 seeds in quick"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_goes_through_the_library(path):
    """myst_nb.glue of a NumPy 2 scalar breaks the book build; sparsestudy.claims.glue doesn't."""
    nb = nbformat.read(path, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from myst_nb import glue" not in src


def test_full_profile_has_at_least_five_seeds_for_every_notebook():
    full = yaml.safe_load((REPO / "notebooks" / "profiles" / "full.yaml").read_text()) or {}
    for path in NOTEBOOKS:
        entry = full.get(path.stem) or {}
        assert len(entry.get("seeds", [])) >= 5, f"{path.stem}: full profile needs >= 5 seeds"
