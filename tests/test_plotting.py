"""plotting: the style is applied and the helpers draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sparsestudy.plotting import COLORS, plot_convergence, plot_paths, use_style  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_rc():
    with matplotlib.rc_context():
        yield
    plt.close("all")


def test_use_style_sets_rcparams():
    use_style()
    rc = matplotlib.rcParams
    assert not rc["axes.spines.top"] and not rc["axes.spines.right"]
    assert [c.lower() for c in rc["axes.prop_cycle"].by_key()["color"]] == \
        [c.lower() for c in COLORS]
    assert rc["font.size"] >= 9


def test_plot_paths_draws_each_coefficient():
    alphas = np.geomspace(1, 1e-3, 7)
    coefs = np.arange(21.0).reshape(3, 7)
    fig, ax = plt.subplots()
    plot_paths(ax, alphas, coefs, title="t")
    data_lines = [ln for ln in ax.lines if len(ln.get_xdata()) == 7]
    assert len(data_lines) == 3
    np.testing.assert_array_equal(data_lines[1].get_ydata(), coefs[1])
    assert ax.get_xscale() == "log"
    assert ax.get_xlim()[0] > ax.get_xlim()[1]  # largest penalty on the left
    fig2, ax2 = plt.subplots()
    plot_paths(ax2, alphas, coefs, highlight=np.array([False, True, False]))
    colored = [ln for ln in ax2.lines if ln.get_color() == COLORS[0]]
    assert len(colored) == 1
    np.testing.assert_array_equal(colored[0].get_ydata(), coefs[1])
    with pytest.raises(ValueError, match="coefs"):
        plot_paths(ax, alphas, coefs[:, :3])
    with pytest.raises(ValueError, match="highlight"):
        plot_paths(ax, alphas, coefs, highlight=np.ones(2, bool))


def test_plot_convergence_median_floor_and_labels():
    fig, ax = plt.subplots()
    h = np.array([[1.0, 3.0, 2.0], [0.0, 0.5, 0.1], [0.0, 0.0, 0.0]])  # 3 iterations x 3 runs
    plot_convergence(ax, {"a": h, "b": np.array([4.0, 2.0, 1.0])}, "gap")
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert set(lines) == {"a", "b"}
    floor = 0.1  # smallest positive value drawn
    np.testing.assert_allclose(lines["a"].get_ydata(), [2.0, floor, floor])
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "gap"
    assert len(ax.collections) == 1  # one band, for the multi-run history
    fig2, ax2 = plt.subplots()
    plot_convergence(ax2, {"a": h}, "zeros", log=False, band=False)
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), [2.0, 0.1, 0.0])
    assert ax2.get_yscale() == "linear" and not ax2.collections
    with pytest.raises(ValueError, match="history"):
        plot_convergence(ax2, {"bad": np.zeros((2, 2, 2))}, "x")


def test_page_figure_fits_the_column():
    from sparsestudy.plotting import PAGE_WIDTH_IN, page_figure

    fig, axes = page_figure(3, 1, panel_height=2.0)
    assert fig.get_figwidth() == pytest.approx(PAGE_WIDTH_IN) == pytest.approx(688 / 96)
    assert fig.get_figheight() == pytest.approx(6.0) and len(axes) == 3
    assert fig.get_layout_engine() is not None      # constrained: no tight_layout warnings
    with pytest.raises(ValueError, match="width"):
        page_figure(1, 4, width=12)
    with pytest.raises(ValueError, match="nrows"):
        page_figure(0, 1)
    with pytest.raises(ValueError, match="panel_height"):
        page_figure(1, 1, panel_height=0)


def test_readability_problems_follow_the_shown_size():
    """9-pt text on a figure as wide as the column reads as 9 pt; on a figure twice as wide it
    is shrunk to 4.5 pt; a narrow figure at 150 dpi is shown enlarged (150/96)."""
    from sparsestudy.plotting import PAGE_WIDTH_IN, readability_problems

    use_style()
    ok = plt.figure(figsize=(PAGE_WIDTH_IN, 3), dpi=150)
    ok.add_subplot().set_title("title", fontsize=9)
    assert readability_problems(ok) == []
    wide = plt.figure(figsize=(2 * PAGE_WIDTH_IN, 3), dpi=150)
    wide.add_subplot().set_xlabel("shrunk", fontsize=9)
    problems = readability_problems(wide)
    assert any("'shrunk'" in p and "4.5 pt as shown" in p for p in problems)
    small = plt.figure(figsize=(3, 2), dpi=150)
    small.add_subplot().set_title("tiny", fontsize=6)       # 6 * 150/96 = 9.4 pt as shown
    assert not [p for p in readability_problems(small) if "'tiny'" in p]
    small.axes[0].set_title("tinier", fontsize=5)           # 7.8 pt
    assert [p for p in readability_problems(small) if "'tinier'" in p]
