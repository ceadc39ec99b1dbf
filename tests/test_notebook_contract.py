"""Every claim notebook keeps the notebook contract (see DESIGN.md and the runner)."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from papermill.translators import PythonTranslator

from sparsestudy.study.fingerprint import SETUP_TAG
from sparsestudy.study.layout import claim_of_stem
from sparsestudy.study.notebook import SHARED_PARAMETERS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("c[0-9][0-9]_*.ipynb"))
#: register amendment 4: the training-heavy claims use 3 seeds in full, the others 5
FULL_SEEDS = {"C02": 3, "C09": 3, "C10": 3}


def _parameters_cell(nb):
    code = [c for c in nb.cells if c.cell_type == "code" and SETUP_TAG not in _tags(c)]
    assert code, "no code cell"
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell is not tagged"
    return code[0]


# --------------------------------------------------------------------------- page layout
#: tags that remove a cell's code from the page (plumbing) or collapse it (experiment code)
REMOVE_TAGS = {"remove-input", "remove-cell"}
COLLAPSE_TAGS = {"hide-input", "hide-cell"}
#: calls that make a cell plumbing when a cell holds nothing else (besides imports)
GLUE_CALLS = {"glue", "glue_markdown", "glue_outcome", "highlight", "glue_parameters"}


def _tags(cell):
    return set(cell.metadata.get("tags", []))


def _call_name(node):
    func = node.func
    return getattr(func, "id", getattr(func, "attr", None))


def _is_plumbing(source: str) -> bool:
    """A cell that opens or closes the claim, or holds only imports and glue calls."""
    tree = ast.parse(source)
    calls = {_call_name(n) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    if calls & {"open_claim", "close_claim"}:
        return True
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        value = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
        if not (isinstance(value, ast.Call) and _call_name(value) in GLUE_CALLS):
            return False
    return bool(tree.body)


def _parameter_names(nb) -> list[str]:
    return [t.id for node in ast.parse(_parameters_cell(nb).source).body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)]


def _markdown(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_first_then_collapsed_parameters(path):
    """The page opens with the chapter's title and introduction; then the Colab set-up cell
    (removed from the page); then the parameters, in a collapsed block (papermill's injected
    cell lands after them)."""
    nb = nbformat.read(path, as_version=4)
    claim = claim_of_stem(path.stem)
    first = nb.cells[0]
    assert first.cell_type == "markdown", "the first cell must be the Markdown chapter title"
    heading = first.source.lstrip().splitlines()[0]
    assert heading.startswith(f"# {claim} "), \
        f"the first line must be the chapter title '# {claim} — ...', got {heading!r}"
    assert len(first.source.strip().splitlines()) > 1, "the title cell also introduces the claim"
    assert SETUP_TAG in _tags(nb.cells[1]), \
        "the second cell must be the Colab set-up cell (`sparsestudy repository` adds it)"
    third = nb.cells[2]
    assert third.cell_type == "code" and "parameters" in _tags(third), \
        "the third cell must be the parameters cell"
    assert _tags(third) & COLLAPSE_TAGS, "tag the parameters cell hide-input (collapsed)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_plumbing_hidden_experiment_collapsed(path):
    """Opening, closing and glue-only cells are removed from the page (remove-input: their
    output, e.g. the closing summary, stays); experiment code is collapsed (hide-input)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or {"parameters", SETUP_TAG} & _tags(cell):
            continue
        tags = _tags(cell) & (REMOVE_TAGS | COLLAPSE_TAGS)
        head = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else "(empty)"
        if len(tags) != 1:
            problems.append(f"cell {i} ({head}): needs exactly one of "
                            f"{sorted(REMOVE_TAGS | COLLAPSE_TAGS)}, has {sorted(tags)}")
        elif _is_plumbing(cell.source) and not tags & REMOVE_TAGS:
            problems.append(f"cell {i} ({head}): plumbing (opens/closes the claim or only "
                            "imports and glues), tag it remove-input")
        elif not _is_plumbing(cell.source) and not tags & COLLAPSE_TAGS:
            problems.append(f"cell {i} ({head}): experiment code, tag it hide-input")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_warning_sources_in_code(path):
    """Outputs carry no warnings: fix their causes. The house style uses constrained layout, so
    tight_layout warns ("The figure layout has changed to tight"); tqdm.auto warns without
    ipywidgets; silencing warnings hides them instead of fixing them."""
    code = _code(path)
    for bad, why in (("tight_layout", "use the constrained layout of the house style"),
                     ("tqdm.auto", "no progress bars in a chapter"),
                     ("tqdm.notebook", "no progress bars in a chapter"),
                     ("filterwarnings", "fix the warning's cause"),
                     ("simplefilter", "fix the warning's cause")):
        assert bad not in code, f"{bad} in the code: {why}"


def _literal_number(node):
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_fit_the_text_column(path):
    """A figure at most the column's width (688 px = PAGE_WIDTH_IN inches) shows its text at
    the size drawn; no text below 9 pt (stack panels instead of widening the figure)."""
    from sparsestudy.plotting import MIN_FONT_PT, PAGE_WIDTH_IN

    problems = []
    for node in ast.walk(ast.parse(_code(path))):
        if not isinstance(node, ast.keyword):
            continue
        if node.arg == "figsize" and isinstance(node.value, ast.Tuple):
            width = _literal_number(node.value.elts[0])
            if width is not None and width > PAGE_WIDTH_IN + 1e-6:
                problems.append(f"figsize width {width} in > {PAGE_WIDTH_IN:.2f} in")
        if node.arg in ("fontsize", "size", "labelsize"):
            size = _literal_number(node.value)
            if size is not None and size < MIN_FONT_PT:
                problems.append(f"{node.arg}={size} < {MIN_FONT_PT:g} pt")
    assert not problems, "; ".join(problems)


_INLINE_CODE = re.compile(r"(?<![}`])`([A-Za-z_][A-Za-z0-9_]*)`(?!`)")
_GLUE_ROLE = re.compile(r"\{glue(?::(?:text|md|any|figure|math))?\}`([A-Za-z0-9_]+)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_shows_values_not_parameter_names(path):
    """"SNR `c_snr_db` dB" shows a variable; "SNR {glue:text}`c05_p_c_snr_db` dB" its value
    (open_claim glues every parameter as <claim>_p_<name>). Glued parameters must exist."""
    nb = nbformat.read(path, as_version=4)
    names = set(_parameter_names(nb))
    prefix = claim_of_stem(path.stem).lower() + "_p_"
    problems = []
    for text in _markdown(nb):
        problems += [f"`{m}` in the prose" for m in _INLINE_CODE.findall(text) if m in names]
        problems += [f"{{glue}}`{k}`: no parameter {k[len(prefix):]!r}"
                     for k in _GLUE_ROLE.findall(text)
                     if k.startswith(prefix) and k[len(prefix):] not in names]
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sources_named_and_verdict_explained(path):
    """Sources are named by title and author (not by a truncated file id like `003_…`), and
    the verdict comes with its computed reason (<claim>_why)."""
    nb = nbformat.read(path, as_version=4)
    prose = "\n".join(_markdown(nb))
    ids = re.findall(r"`?\b00\d_(?:…|\.\.\.|[0-9a-f]{16}(?:\.txt)?)`?", prose)
    assert not ids, f"name the source by title and author (book/sources.md), not {ids}"
    key = claim_of_stem(path.stem).lower()
    verdict = [t for t in _markdown(nb) if f"`{key}_verdict`" in t]
    assert verdict, f"no Markdown cell shows {key}_verdict"
    assert any(f"`{key}_why`" in t for t in verdict), \
        f"the verdict's cell must show its computed reason, {{glue:md}}`{key}_why`"


def test_plumbing_classifier():
    assert _is_plumbing("import numpy as np\nrec = open_claim('C01', 't', expected=('a',))")
    assert _is_plumbing("rec.glue('x', 1)\nclose_claim(rec)")
    assert _is_plumbing("from x import y\nglue('c01_x', 2)\nrec.highlight('k', 3)")
    assert not _is_plumbing("x = 1\nrec.glue('x', x)")
    assert not _is_plumbing("fig, ax = plt.subplots()\nplt.show()")


def test_glue_parameters_glues_values_in_the_house_scheme(monkeypatch):
    """open_claim glues every parameter as <claim>_p_<name>: numbers as numbers, strings and
    lists as Markdown text, None and dicts skipped."""
    from sparsestudy.study import notebook

    seen = {}
    monkeypatch.setattr(notebook, "glue", lambda name, value, display=False:
                        seen.__setitem__(name, value))
    params = {"profile": "quick", "seeds": [0, 1, 2], "output_dir": None, "device": "cpu",
              "scheduler": None, "c_snr_db": 5.0, "n": 200, "grid": [0.1, 1.0, 10.0],
              "flag": True, "nested": {"a": 1}, "mixed": [1, [2]]}
    rec = notebook.open_claim("C05", "t", expected=("a",), parameters=params)
    text = {k: getattr(v, "data", v) for k, v in seen.items()}
    assert text["c05_p_c_snr_db"] == 5.0 and text["c05_p_n"] == 200
    assert text["c05_p_flag"] is True
    assert text["c05_p_seeds"] == "0, 1, 2" and text["c05_p_grid"] == "0.1, 1, 10"
    assert text["c05_p_profile"] == "quick" and text["c05_p_device"] == "cpu"
    for skipped in ("output_dir", "scheduler", "nested", "mixed"):
        assert f"c05_p_{skipped}" not in text
    assert rec.glue_parameters({"x": 1}) == ["c05_p_x"]


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
    for required in SHARED_PARAMETERS:      # the runner may inject each of them
        assert required in names, f"the parameters cell does not declare {required}"
    values = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    assert values["profile"] == "quick"
    assert values["output_dir"] is None
    assert values["scheduler"] is None and values["device"] in ("cpu", "auto")
    assert len(values["seeds"]) >= 3, "the register asks for at least 3 seeds in quick"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def _code(path):
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_goes_through_the_library(path):
    """myst_nb.glue of a NumPy 2 scalar breaks the book build; sparsestudy.study.glue doesn't."""
    assert "from myst_nb import glue" not in _code(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_and_closes_its_claim_with_the_helpers(path):
    """The plumbing is written once: open_claim reads the parameters (no retyped params dict),
    close_claim saves and glues the verdict; the record class is not used directly."""
    code = _code(path)
    claim = claim_of_stem(path.stem)
    tree = ast.parse(code)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    names = [getattr(c.func, "id", getattr(c.func, "attr", None)) for c in calls]
    assert names.count("open_claim") == 1 and names.count("close_claim") == 1
    opened = next(c for c in calls if getattr(c.func, "id", None) == "open_claim")
    assert ast.literal_eval(opened.args[0]) == claim
    assert "ClaimRecord" not in code and "rec.save(" not in code
    assert "params = dict(" not in code and "globals()[" not in code
    assert '"holds" if' not in code and "'holds' if" not in code     # outcome words: the helper's


def test_full_profile_seeds_follow_the_register():
    full = yaml.safe_load((REPO / "notebooks" / "profiles" / "full.yaml").read_text()) or {}
    for path in NOTEBOOKS:
        claim = claim_of_stem(path.stem)
        entry = full.get(path.stem) or {}
        need = FULL_SEEDS.get(claim, 5)
        assert len(entry.get("seeds", [])) >= need, f"{path.stem}: full profile needs >= {need} seeds"


def test_closing_summary_is_a_real_table():
    """A Markdown table in a cell's output shows as pipe text in the book (outputs render as
    CommonMark): close_claim shows a DataFrame, one row per sub-claim, rules in full."""
    from sparsestudy.study.notebook import summary_table

    long_rule = "a rule " * 30
    table = summary_table({"subclaims": {
        "a": {"holds": True, "rule": "x > 1"},
        "b": {"holds": None, "rule": long_rule},
        "e": {"holds": True, "rule": "r", "consistency": True}}})
    assert list(table.index) == ["a", "b", "e"] and list(table.columns) == ["outcome", "rule"]
    assert table.loc["a", "outcome"] == "holds"
    assert table.loc["b", "outcome"] == "is inconclusive"
    assert table.loc["b", "rule"] == " ".join(long_rule.split())
    assert "consistency check" in table.loc["e", "outcome"]


def test_glue_markdown_keeps_a_string_that_names_a_directory(tmp_path, monkeypatch):
    """IPython's Markdown reads a string naming an existing path as a file; a glued parameter
    (a results folder, say) must be shown as text, and output_dir is not glued at all."""
    from sparsestudy.study import notebook

    glued = {}
    monkeypatch.setattr(notebook, "glue", lambda name, value, display=False:
                        glued.__setitem__(name, value))
    notebook.glue_markdown("c99_p_where", str(tmp_path))
    assert glued["c99_p_where"].data == str(tmp_path)
    claim = notebook.NotebookClaim("C99", "A test claim", profile="quick", seeds=[0])
    keys = claim.glue_parameters({"output_dir": str(tmp_path), "scheduler": None, "b_snr": 3.0})
    assert keys == ["c99_p_b_snr"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_format_specs_are_valid(path):
    """Every ``{glue:text}`name:spec``` carries a format spec Python accepts for an int or a float
    (a stray brace fails the book build, which treats myst-nb's warning as an error)."""
    import re

    nb = nbformat.read(path, as_version=4)
    bad = []
    for text in _markdown(nb):
        for name, spec in re.findall(r"\{glue:text\}`([A-Za-z0-9_]+):([^`]*)`", text):
            ok = False
            for number in (1, 1.5):                    # an int spec (d) or a float one
                try:
                    format(number, spec)
                    ok = True
                except ValueError:
                    pass
            if not ok:
                bad.append(f"{name}:{spec}")
    assert not bad, f"invalid format specs: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_text_parameters_are_shown_with_glue_md(path):
    """A parameter glued as Markdown (a string or a list: ``glue_parameters``) must be shown
    with ``{glue:md}``; ``{glue:text}`` would print ``<IPython.core.display.Markdown object>``."""
    nb = nbformat.read(path, as_version=4)
    values = {}
    for node in ast.parse(_parameters_cell(nb).source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    claim = claim_of_stem(path.stem).lower()
    bad = [name for text in _markdown(nb)
           for name in re.findall(r"\{glue:text\}`" + claim + r"_p_([A-Za-z0-9_]+)", text)
           if isinstance(values.get(name), (str, list, tuple))]
    assert not bad, f"shown with glue:text but glued as Markdown: {bad}"


#: the record's methods that return what they were given (so a cell ending in one shows it)
RETURNS_ITS_VALUE = {"glue", "glue_outcome", "highlight"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_ends_by_showing_a_glued_value(path):
    """``rec.glue(...)`` and its kin return their value: as a cell's last line, Jupyter shows it
    as a bare repr (``[np.float64(91.09), ...]``) on the page. Assign it (``_ = rec.glue(...)``)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        last = ast.parse(cell.source).body[-1]
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and \
                isinstance(last.value.func, ast.Attribute) and \
                last.value.func.attr in RETURNS_ITS_VALUE:
            problems.append(f"cell {i} ends with .{last.value.func.attr}(...) (line "
                            f"{last.lineno}): its value is shown on the page")
    assert not problems, "\n".join(problems)
