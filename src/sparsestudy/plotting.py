"""The book's figure style and a few plots several claims share.

Call :func:`use_style` once at the top of a notebook; figures are then shown inline (nothing
here writes files). The helpers draw on an ``Axes`` you pass and return it, so they compose
into ``plt.subplots`` grids.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["COLORS", "use_style", "plot_paths", "plot_convergence"]

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
