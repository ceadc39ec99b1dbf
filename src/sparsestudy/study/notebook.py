"""What every claim notebook does around its experiment, written once.

A claim notebook starts with its ``parameters`` cell (the ``quick`` defaults, which a profile
overrides). Every notebook declares the five shared parameters :data:`SHARED_PARAMETERS`:
``profile``, ``seeds``, ``output_dir``, ``device`` and ``scheduler`` (the runner injects them;
a notebook ignores what it does not use). Then::

    from sparsestudy.study import open_claim, close_claim

    rec = open_claim("C04", "An L0 penalty gives hard thresholding ...",
                     expected=("a", "b", "c"))
    ...                                   # the experiment
    rec.subclaim("b", rule=..., passed=..., values=..., adequacy=..., adequate=...)
    rec.glue("b_frac", 100 * frac)        # glue key c04_b_frac
    ...
    close_claim(rec)

:func:`open_claim` reads the values of the parameters cell (and of the cell papermill injects)
itself, from the kernel's history, so a notebook never retypes them; it sets the plotting
style and the thread counts and returns the :class:`~sparsestudy.study.record.ClaimRecord`.
:func:`close_claim` saves the record atomically, glues the verdict and its computed
explanation, and shows the summary.

**Glue keys** have one scheme: ``<claim>_<name>`` in lower case (``c04_b_frac``); every
sub-claim's outcome is glued as ``<claim>_<key>_outcome`` (``holds``, ``does not hold``, ``is
inconclusive``) the moment it is declared, and the verdict as ``<claim>_verdict``, its reason
as ``<claim>_why`` (these three as Markdown: ``{glue:md}`c04_b_outcome```) and the run time
as ``<claim>_elapsed`` (seconds).

**Parameters in the prose.** :func:`open_claim` glues every parameter the notebook declares as
``<claim>_p_<name>`` (:meth:`NotebookClaim.glue_parameters`), so the prose quotes the value a
run used, never the variable's name: a number with ``{glue:text}`c04_p_b_snr_db```, a string
or a list (glued as Markdown, ``0.1, 0.5, 1``) with ``{glue:md}`c04_p_c_quantiles```.

**Page layout** (kept by ``tests/test_notebook_contract.py``): the first cell is the Markdown
chapter title (``# C04 — ...``) and introduction, the second the ``parameters`` cell, tagged
``hide-input`` as well (a collapsed block); the cells that open and close the claim and cells
of only imports and glue calls are plumbing, tagged ``remove-input``; every other code cell is
experiment code, tagged ``hide-input`` (collapsed, one click away).
"""

from __future__ import annotations

import ast
from typing import Any, Iterable, Mapping

import numpy as np

from .fingerprint import device_kind
from .record import ClaimRecord, outcome_words

#: the parameters every claim notebook declares
SHARED_PARAMETERS = ("profile", "seeds", "output_dir", "device", "scheduler")


def glue(name: str, value: Any, display: bool = False) -> None:
    """myst-nb's ``glue``, with NumPy and torch scalars turned into Python numbers first.

    Under NumPy 2 a NumPy scalar's text form is ``np.float64(0.5)``, which myst-nb cannot format
    (``{glue:text}`name:.2f``` then fails the book build).
    """
    from myst_nb import glue as _glue

    if type(value).__module__.startswith("torch") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, value, display=display)


def glue_markdown(name: str, text: str) -> None:
    """Glue ``text`` as Markdown, to be shown inline with ``{glue:md}`name``` (a plain string
    glued with ``glue`` would show with its quotes)."""
    from IPython.display import Markdown

    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    markdown = Markdown("")       # IPython reads a string naming an existing file (or fetches a
    markdown.data = text          # URL) passed to the constructor: set the text afterwards
    glue(name, markdown)


class NotebookClaim(ClaimRecord):
    """A :class:`ClaimRecord` that glues as it goes (what :func:`open_claim` returns)."""

    def key(self, name: str) -> str:
        """The glue key of ``name``: ``c04_<name>``."""
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise ValueError(f"name must be letters, digits and underscores, got {name!r}")
        return f"{self.claim.lower()}_{name}"

    def glue(self, name: str, value: Any) -> Any:
        """Glue ``value`` under ``c04_<name>`` (not displayed); returns ``value``."""
        glue(self.key(name), value)
        return value

    def glue_outcome(self, name: str, passed: bool) -> bool:
        """Glue the outcome of a part of a rule (``holds`` / ``does not hold``) as Markdown under
        ``c04_<name>``, in the house style; returns ``passed``."""
        glue_markdown(self.key(name), outcome_words({"holds": bool(passed)}))
        return passed

    def glue_parameters(self, parameters: Mapping[str, Any] | None = None) -> list[str]:
        """Glue each parameter (default: the record's) as ``<claim>_p_<name>``: numbers and
        booleans as they are (``{glue:text}``), strings and lists or tuples of numbers and
        strings as Markdown text (``{glue:md}``, a list as ``1, 2, 4``); ``None``, dicts and
        other values are skipped. Returns the glue keys written."""
        params = self.parameters if parameters is None else parameters
        keys = []
        for name, value in params.items():
            if not isinstance(name, str) or not name.replace("_", "").isalnum():
                continue
            if name in ("output_dir", "scheduler"):    # where and how it ran, not what
                continue
            text = _parameter_text(value)
            if text is None:
                continue
            key = self.key(f"p_{name}")
            if isinstance(text, str):
                glue_markdown(key, text)
            else:
                glue(key, text)
            keys.append(key)
        return keys

    def subclaim(self, key: str, **kwargs: Any) -> bool | None:
        holds = super().subclaim(key, **kwargs)
        glue_markdown(self.key(f"{key}_outcome"), outcome_words(self.subclaims[key]))
        return holds


def _parameter_text(value: Any) -> Any:
    """A parameter's glued form: the number itself, Markdown text (a str) or None (skipped)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, (bool, int, float, str, np.generic)) for v in value):
        items = [v.item() if isinstance(v, np.generic) else v for v in value]
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in items)
    return None


def _assigned_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def _parameters_cell_names(claim: str | None) -> list[str]:
    """Names assigned in the ``parameters`` cell of the claim's notebook, found in the working
    directory (where papermill, nbval and Jupyter run a notebook) or in ``<root>/notebooks``."""
    if claim is None:
        return []
    import json
    from pathlib import Path

    from .layout import NOTEBOOK_GLOB, claim_of_stem, notebooks_dir, project_root

    for folder in dict.fromkeys((Path.cwd(), notebooks_dir(project_root()))):
        hits = [p for p in sorted(folder.glob(NOTEBOOK_GLOB)) if claim_of_stem(p.stem) == claim]
        if len(hits) != 1:
            continue
        cell = parameters_cell(json.loads(hits[0].read_text(encoding="utf-8")))
        if cell is not None:
            src = cell.get("source", "")
            return _assigned_names("".join(src) if isinstance(src, list) else src)
    return []


def parameters_cell(nb: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A notebook's code cell tagged ``parameters`` (papermill's), ``None`` when it has none;
    ``nb`` is the notebook's JSON or an ``nbformat`` node."""
    return next((c for c in nb.get("cells", []) if c.get("cell_type") == "code" and
                 "parameters" in (c.get("metadata") or {}).get("tags", [])), None)


def notebook_parameters(namespace: Mapping[str, Any] | None = None, *,
                        claim: str | None = None) -> dict[str, Any]:
    """The values of the notebook's parameters, read from the running kernel.

    The parameters are the names assigned at top level in the claim notebook's ``parameters``
    cell (the notebook ``c04_*.ipynb`` of ``claim``, found in the working directory) and in
    the cells the kernel's history holds before this one (the cell papermill injects), with
    their current values, so an injected value wins. Outside IPython pass ``namespace`` (a
    dict of the parameters) instead.
    """
    if namespace is not None:
        return dict(namespace)
    shell = _shell()
    if shell is None:
        raise RuntimeError("open_claim reads the parameters from an IPython kernel; outside a "
                           "notebook pass parameters=dict(...)")
    user_ns = shell.user_ns
    names = _parameters_cell_names(claim)
    for source in list(user_ns.get("In", []))[1:-1]:   # In[0] is '', In[-1] is this cell
        for n in _assigned_names(source):
            if n not in names:
                names.append(n)
    if not names:
        raise RuntimeError(f"cannot find the parameters of {claim}: run the notebook from its "
                           "folder, or pass parameters=dict(...)")
    return {n: user_ns[n] for n in names if n in user_ns and not n.startswith("_")}


def open_claim(claim: str, title: str, *, expected: Iterable[str],
               parameters: Mapping[str, Any] | None = None, threads: int | None = None
               ) -> NotebookClaim:
    """Open a claim notebook's record: read the parameters, set the style and the threads.

    Parameters
    ----------
    claim, title, expected
        As :class:`~sparsestudy.study.record.ClaimRecord`.
    parameters : dict, optional
        The notebook's parameters; default: read from the kernel (:func:`notebook_parameters`).
    threads : int, optional
        Threads for torch and the BLAS libraries (small problems run best on one each).
    """
    params = notebook_parameters(parameters, claim=claim)
    missing = [p for p in SHARED_PARAMETERS if p not in params]
    if missing:
        raise ValueError(f"the parameters cell must declare {', '.join(missing)} (every claim "
                         f"notebook declares {', '.join(SHARED_PARAMETERS)})")
    if params["device"] not in ("cpu", "cuda", "auto") and \
            not str(params["device"]).startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {params['device']!r}")
    if threads is not None:
        import torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
        torch.set_num_threads(threads)
    from ..plotting import use_style

    use_style()
    rec = NotebookClaim(claim, title, profile=params["profile"], seeds=params["seeds"],
                        parameters=params, output_dir=params["output_dir"],
                        expected=expected, device=device_kind(params["device"]))
    rec.glue_parameters()
    return rec


def close_claim(rec: ClaimRecord, *, show: bool = True) -> None:
    """Save the record atomically, glue ``<claim>_verdict``, ``<claim>_why`` and
    ``<claim>_elapsed``, and show the sub-claims as a table (:func:`summary_table`; the verdict
    and its reason are glued for the prose). Returns nothing, so the cell that
    closes a notebook prints no path of the machine that ran it (the record is in
    ``rec.output_dir``)."""
    data = rec.to_dict()
    rec.save()
    prefix = rec.claim.lower()
    glue_markdown(f"{prefix}_verdict", data["verdict"])
    glue_markdown(f"{prefix}_why", data["why"])
    glue(f"{prefix}_elapsed", data["elapsed_s"])
    if show:
        _show_summary(data)


def summary_table(data: Mapping[str, Any]):
    """The sub-claims of a record as a pandas DataFrame (a real table in the book: a Markdown
    table in a cell's output shows as pipe text, myst-nb renders outputs as CommonMark)."""
    import pandas as pd

    rows = []
    for k, sub in data["subclaims"].items():
        rows.append({"sub-claim": k, "outcome": outcome_words(sub),
                     "rule": " ".join(str(sub["rule"]).split())})
    return pd.DataFrame(rows, columns=["sub-claim", "outcome", "rule"]).set_index("sub-claim")


def _show_summary(data: Mapping[str, Any]) -> None:
    table = summary_table(data)
    try:
        import pandas as pd
        from IPython.display import display

        with pd.option_context("display.max_colwidth", None):
            display(table)
    except ImportError:  # pragma: no cover
        print(table.to_string())


__all__ = ["open_claim", "close_claim", "glue", "glue_markdown", "notebook_parameters", "NotebookClaim",
           "SHARED_PARAMETERS"]
