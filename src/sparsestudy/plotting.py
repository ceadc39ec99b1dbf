"""The book's figure style and a few plots several claims share.

Call :func:`use_style` once at the top of a notebook; figures are then shown inline (nothing
here writes files). The helpers draw on an ``Axes`` you pass and return it, so they compose
into ``plt.subplots`` grids.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["COLORS", "PAGE_WIDTH_IN", "MIN_FONT_PT", "use_style", "page_figure",
           "readability_problems", "plot_paths", "plot_convergence"]

#: The book's text column, 688 CSS pixels, in inches (96 CSS pixels per inch): a figure this
#: wide is shown at its own size, so its 9-pt text reads as 9 pt. A wider figure is shrunk
#: to the column and its text with it; stack panels instead of putting four side by side.
PAGE_WIDTH_IN = 688 / 96
#: The smallest text size, in points as the reader sees it at the column's width.
MIN_FONT_PT = 9.0

#: The colour cycle (Okabe–Ito, readable by colour-blind readers), in order.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
          "#000000")


def use_style() -> None:
    """Set matplotlib's rcParams to the house style: readable font sizes, no top/right spines,
    light grid, the :data:`COLORS` cycle, a 150-dpi inline figure of 7 x 3.5 inches."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        "figure.figsize": (7.0, 3.5),
        "figure.dpi": 150,
        "figure.constrained_layout.use": True,
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.6,
        "lines.linewidth": 1.6,
        "axes.prop_cycle": cycler(color=list(COLORS)),
        "image.cmap": "viridis",
    })


def page_figure(nrows: int = 1, ncols: int = 1, *, panel_height: float = 2.8,
                width: float = PAGE_WIDTH_IN, **subplots_kw: Any) -> tuple[Any, Any]:
    """``plt.subplots`` sized for the book's text column: ``width`` inches wide (at most
    :data:`PAGE_WIDTH_IN`), ``panel_height`` inches per row, constrained layout.

    Raises ``ValueError`` for a width beyond the column or a non-positive size.
    """
    import matplotlib.pyplot as plt

    if not (isinstance(nrows, int) and isinstance(ncols, int)) or nrows < 1 or ncols < 1:
        raise ValueError(f"nrows and ncols must be positive integers, got {nrows}, {ncols}")
    if not 0 < width <= PAGE_WIDTH_IN + 1e-9:
        raise ValueError(f"width must be in (0, {PAGE_WIDTH_IN:.2f}] inches (the text column), "
                         f"got {width}")
    if not panel_height > 0:
        raise ValueError(f"panel_height must be positive, got {panel_height}")
    subplots_kw.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(width, panel_height * nrows), **subplots_kw)


def readability_problems(fig: Any, *, column_px: float = 688.0,
                         min_pt: float = MIN_FONT_PT) -> list[str]:
    """What would be too small to read when ``fig`` is shown in a column ``column_px`` CSS
    pixels wide: one line per visible text whose size, as shown, is below ``min_pt`` points.

    A figure is shown at its natural size (``dpi`` pixels per inch, one image pixel per CSS
    pixel) unless that is wider than the column, when it is shrunk to fit; a CSS point is
    1/72 of a CSS inch of 96 pixels. An empty list means every text is readable.
    """
    from matplotlib.text import Text

    fig.canvas.draw()                       # lays out the tick labels
    width_px = fig.get_figwidth() * fig.dpi
    shown_px_per_in = fig.dpi * min(1.0, column_px / width_px)
    scale = shown_px_per_in / 96.0          # shown size / nominal size
    problems = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not str(text.get_text()).strip():
            continue
        shown = text.get_fontsize() * scale
        if shown < min_pt - 1e-6:
            problems.append(f"{text.get_text()!r}: {text.get_fontsize():g} pt drawn, "
                            f"{shown:.1f} pt as shown")
    return problems


def plot_paths(ax: Any, alphas: Sequence[float], coefs: Any, *, title: str | None = None,
               xlabel: str = r"penalty $\alpha$", ylabel: str = "coefficient",
               highlight: Any = None, log: bool = True, **line_kw: Any) -> Any:
    """Regularisation path: one line per coefficient against the penalty.

    Parameters
    ----------
    ax : matplotlib Axes
    alphas : array (n_alphas,)
        The penalties (plotted on a log axis, largest on the left, as the path is traced).
    coefs : array (n_coefs, n_alphas)
        Coefficients along the path (scikit-learn's ``lasso_path`` layout).
    highlight : boolean array (n_coefs,), optional
        Coefficients drawn in the first colour (e.g. the true support); the others in grey.
    log : bool
        Log-scale penalty axis.
    """
    alphas = np.asarray(alphas, dtype=float)
    coefs = np.asarray(coefs, dtype=float)
    if coefs.ndim != 2 or coefs.shape[1] != alphas.shape[0]:
        raise ValueError(f"coefs must have shape (n_coefs, {alphas.shape[0]}), got {coefs.shape}")
    kw = {"linewidth": 1.0, **line_kw}
    if highlight is None:
        ax.plot(alphas, coefs.T, **kw)
    else:
        highlight = np.asarray(highlight, dtype=bool)
        if highlight.shape != (coefs.shape[0],):
            raise ValueError(f"highlight must have shape ({coefs.shape[0]},), got {highlight.shape}")
        ax.plot(alphas, coefs[~highlight].T, color="0.6", alpha=0.6, **kw)
        ax.plot(alphas, coefs[highlight].T, color=COLORS[0], **kw)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(alphas.max(), alphas.min())
    ax.axhline(0.0, color="0.2", linewidth=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_convergence(ax: Any, histories: Mapping[str, Any], ylabel: str, *, log: bool = True,
                     xlabel: str = "iteration", floor: float | None = None,
                     band: bool = True) -> Any:
    """Curves against the iteration number, one per label.

    ``histories`` maps a label to an array ``(n_iter + 1,)`` or ``(n_iter + 1, n_runs)`` (e.g.
    one column per seed): a 2-D history is drawn as its median with, when ``band``, the min-max
    band across runs. With ``log``, values are clipped below at ``floor`` (default: the
    smallest positive value drawn) so that exact zeros stay visible on the log axis.
    """
    curves = {}
    for label, h in histories.items():
        h = np.asarray(h, dtype=float)
        if h.ndim == 1:
            h = h[:, None]
        if h.ndim != 2:
            raise ValueError(f"history {label!r} must be 1-D or 2-D, got shape {h.shape}")
        curves[label] = h
    if log:
        if floor is None:
            pos = [h[h > 0].min() for h in curves.values() if (h > 0).any()]
            floor = min(pos) if pos else 1e-300
        curves = {k: np.maximum(h, floor) for k, h in curves.items()}
    for label, h in curves.items():
        it = np.arange(h.shape[0])
        (line,) = ax.plot(it, np.median(h, axis=1), label=label)
        if band and h.shape[1] > 1:
            ax.fill_between(it, h.min(axis=1), h.max(axis=1), color=line.get_color(), alpha=0.2,
                            linewidth=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
