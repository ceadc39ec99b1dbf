"""The synthetic generators: shapes, atoms, sparsity statistics, SNR, determinism, validation."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sparsestudy.data import (SparseProblem, make_rng, make_sparse_coding_problem,
                              make_sparse_regression)


def test_shapes_dtypes_and_model():
    p = make_sparse_coding_problem(7, 20, 30, seed=0)
    assert isinstance(p, SparseProblem)
    assert p.X.shape == (7, 20) and p.D.shape == (30, 20) and p.Z.shape == (7, 30)
    assert p.noise.shape == (7, 20) and p.snr_db is None
    assert all(a.dtype == np.float64 for a in (p.X, p.D, p.Z, p.noise))
    np.testing.assert_array_equal(p.noise, 0.0)
    np.testing.assert_allclose(p.X, p.Z @ p.D, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(p.support, p.Z != 0)
    with pytest.raises(Exception):
        p.X = p.X  # frozen


def test_float32():
    p = make_sparse_coding_problem(4, 10, 12, seed=1, dtype=np.float32, snr_db=20)
    assert all(a.dtype == np.float32 for a in (p.X, p.D, p.Z, p.noise))
    q = make_sparse_coding_problem(4, 10, 12, seed=1, snr_db=20)
    np.testing.assert_allclose(p.X, q.X, rtol=1e-6, atol=1e-6)


def test_unit_norm_gaussian_atoms():
    p = make_sparse_coding_problem(1, 250, 500, seed=3)
    np.testing.assert_allclose(np.linalg.norm(p.D, axis=1), 1.0, atol=1e-12)
    # unit-norm rows of an i.i.d. Gaussian matrix: directions uniform on the sphere, so the
    # entries are symmetric with variance 1/n_features
    assert abs(p.D.mean()) < 5 / np.sqrt(p.D.size) / np.sqrt(250)
    np.testing.assert_allclose(p.D.var(), 1 / 250, rtol=0.02)


def test_bernoulli_density():
    n, a, rho = 400, 500, 0.1
    p = make_sparse_coding_problem(n, 20, a, density=rho, seed=5)
    frac = p.support.mean()
    sd = np.sqrt(rho * (1 - rho) / (n * a))
    assert abs(frac - rho) < 5 * sd
    # entries independent across atoms: per-sample counts are Binomial(a, rho)
    counts = p.support.sum(axis=1)
    assert stats.chisquare(*_binned(counts, a, rho)).pvalue > 1e-4


def _binned(counts, a, rho):
    edges = np.array([0, 40, 45, 50, 55, 60, a + 1])
    obs = np.histogram(counts, bins=edges)[0]
    cdf = stats.binom.cdf(edges[1:] - 1, a, rho) - stats.binom.cdf(edges[:-1] - 1, a, rho)
    return obs, cdf * counts.size


def test_default_density_is_point_one():
    p = make_sparse_coding_problem(300, 5, 200, seed=6)
    assert abs(p.support.mean() - 0.1) < 5 * np.sqrt(0.09 / 60000)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), a=st.integers(1, 40), data=st.data(),
       amplitude=st.sampled_from(["gaussian", "sign", "uniform"]), nonneg=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_exactly_k_nonzeros(n, a, data, amplitude, nonneg, seed):
    k = data.draw(st.integers(0, a))
    p = make_sparse_coding_problem(n, 3, a, n_nonzero=k, amplitude=amplitude, nonneg=nonneg,
                                   seed=seed)
    np.testing.assert_array_equal((p.Z != 0).sum(axis=1), k)
    if nonneg:
        assert (p.Z >= 0).all()
    nz = p.Z[p.Z != 0]
    if amplitude == "sign":
        np.testing.assert_array_equal(np.abs(nz), 1.0)
    if amplitude == "uniform":
        assert ((np.abs(nz) > 0) & (np.abs(nz) <= 1)).all()


def test_k_support_uniform_over_atoms():
    p = make_sparse_coding_problem(4000, 2, 10, n_nonzero=3, seed=2)
    per_atom = p.support.sum(axis=0)
    assert stats.chisquare(per_atom).pvalue > 1e-4


def test_amplitude_distributions():
    g = make_sparse_coding_problem(200, 2, 100, density=0.5, seed=0).Z
    vals = g[g != 0]
    assert stats.kstest(vals, "norm").pvalue > 1e-4
    u = make_sparse_coding_problem(200, 2, 100, density=0.5, amplitude="uniform", seed=0).Z
    vals = np.abs(u[u != 0])
    assert stats.kstest(vals, "uniform").pvalue > 1e-4
    s = make_sparse_coding_problem(200, 2, 100, density=0.5, amplitude="sign", seed=0).Z
    vals = s[s != 0]
    assert abs(np.mean(vals > 0) - 0.5) < 5 * np.sqrt(0.25 / vals.size)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 40.0, 123.4])
def test_snr_is_exact(snr):
    p = make_sparse_coding_problem(16, 30, 60, snr_db=snr, seed=7)
    clean = p.Z @ p.D
    measured = 10 * np.log10(np.sum(clean**2) / np.sum(p.noise**2))
    assert abs(measured - snr) < 1e-9
    np.testing.assert_allclose(p.X, clean + p.noise, atol=1e-13)
    assert p.snr_db == snr


def test_noise_drawn_last_changes_nothing_else():
    a = make_sparse_coding_problem(5, 8, 12, seed=11)
    b = make_sparse_coding_problem(5, 8, 12, seed=11, snr_db=10)
    c = make_sparse_coding_problem(5, 8, 12, seed=11, snr_db=30)
    for q in (b, c):
        np.testing.assert_array_equal(a.D, q.D)
        np.testing.assert_array_equal(a.Z, q.Z)
    # same noise direction, only its scale depends on snr_db
    np.testing.assert_allclose(b.noise / np.linalg.norm(b.noise),
                               c.noise / np.linalg.norm(c.noise), atol=1e-14)


def test_determinism_by_seed_and_generator():
    kw = dict(density=0.3, snr_db=20.0, amplitude="uniform")
    a = make_sparse_coding_problem(6, 9, 15, seed=42, **kw)
    b = make_sparse_coding_problem(6, 9, 15, seed=42, **kw)
    c = make_sparse_coding_problem(6, 9, 15, seed=43, **kw)
    d = make_sparse_coding_problem(6, 9, 15, seed=np.random.default_rng(42), **kw)
    for f in ("X", "D", "Z", "noise"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        np.testing.assert_array_equal(getattr(a, f), getattr(d, f))
    assert not np.array_equal(a.X, c.X)
    # a Generator is continued, not restarted
    g = np.random.default_rng(0)
    e1 = make_sparse_coding_problem(3, 4, 5, seed=g)
    e2 = make_sparse_coding_problem(3, 4, 5, seed=g)
    assert not np.array_equal(e1.D, e2.D)


def test_given_dictionary_used_as_is():
    D = np.arange(12.0).reshape(4, 3) + 1
    p = make_sparse_coding_problem(5, 3, 4, dictionary=D, seed=0, density=0.5)
    np.testing.assert_array_equal(p.D, D)
    np.testing.assert_allclose(p.X, p.Z @ D)
    q = make_sparse_coding_problem(5, 3, 4, dictionary=torch.tensor(D), seed=0, density=0.5)
    np.testing.assert_array_equal(q.X, p.X)
    assert isinstance(q.X, np.ndarray)


def test_chen_et_al_setting():
    p = make_sparse_coding_problem(64, 250, 500, seed=0, snr_db=40)
    assert p.D.shape == (500, 250) and p.X.shape == (64, 250)
    assert abs(p.support.mean() - 0.1) < 0.01


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(n_samples=0), ValueError, "n_samples"),
    (dict(n_samples=2.5), TypeError, "n_samples"),
    (dict(n_features=0), ValueError, "n_features"),
    (dict(n_atoms=-1), ValueError, "n_atoms"),
    (dict(density=0.0), ValueError, "density"),
    (dict(density=1.5), ValueError, "density"),
    (dict(density="a"), TypeError, "density"),
    (dict(density=0.2, n_nonzero=2), ValueError, "n_nonzero"),
    (dict(n_nonzero=11), ValueError, "n_nonzero"),
    (dict(n_nonzero=1.0), TypeError, "n_nonzero"),
    (dict(amplitude="laplace"), ValueError, "amplitude"),
    (dict(amplitude=3), TypeError, "amplitude"),
    (dict(nonneg=1), TypeError, "nonneg"),
    (dict(snr_db=float("nan")), ValueError, "snr_db"),
    (dict(snr_db="40"), TypeError, "snr_db"),
    (dict(dictionary=np.ones((3, 4))), ValueError, "dictionary"),
    (dict(dictionary=np.full((10, 4), np.nan)), ValueError, "dictionary"),
    (dict(dictionary="D"), TypeError, "dictionary"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(seed=True), TypeError, "seed"),
    (dict(dtype=np.int32), ValueError, "dtype"),
    (dict(dtype="nonsense"), TypeError, "dtype"),
])
def test_bad_arguments(kwargs, exc, word):
    args = dict(n_samples=3, n_features=4, n_atoms=10)
    args.update(kwargs)
    n, f, a = args.pop("n_samples"), args.pop("n_features"), args.pop("n_atoms")
    with pytest.raises(exc, match=word):
        make_sparse_coding_problem(n, f, a, **args)


def test_zero_signal_with_snr_raises():
    with pytest.raises(ValueError, match="snr_db"):
        make_sparse_coding_problem(2, 3, 4, n_nonzero=0, snr_db=10, seed=0)


def test_make_rng():
    g = np.random.default_rng(1)
    assert make_rng(g) is g
    assert make_rng(3).random() == np.random.default_rng(3).random()


# ----------------------------------------------------------------------------- regression
def test_sparse_regression_standardised():
    A, y, w = make_sparse_regression(seed=0)
    assert A.shape == (100, 200) and y.shape == (100,) and w.shape == (200,)
    np.testing.assert_allclose(A.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(A.std(axis=0), 1, atol=1e-12)
    assert abs(y.mean()) < 1e-12
    nz = w[w != 0]
    assert nz.size == 10
    assert ((np.abs(nz) >= 1) & (np.abs(nz) < 2)).all()
    # the residual of the truth is the (centred) noise, of standard deviation about 0.5
    r = y - A @ w
    assert abs(r.mean()) < 1e-12
    assert 0.35 < r.std() < 0.65


def test_sparse_regression_noiseless_and_raw():
    A, y, w = make_sparse_regression(30, 12, 3, noise=0.0, standardize=False, seed=4)
    np.testing.assert_allclose(y, A @ w, atol=1e-12)
    assert np.count_nonzero(w) == 3
    assert abs(A.mean(axis=0)).max() > 1e-6  # not standardised


def test_sparse_regression_determinism_and_errors():
    a = make_sparse_regression(seed=9)
    b = make_sparse_regression(seed=9)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="n_informative"):
        make_sparse_regression(10, 5, 6)
    with pytest.raises(ValueError, match="noise"):
        make_sparse_regression(noise=-1)
    with pytest.raises(TypeError, match="standardize"):
        make_sparse_regression(standardize="yes")
    with pytest.raises(ValueError, match="n_samples"):
        make_sparse_regression(n_samples=1)


# ---------------------------------------------------------- the streaming form, same law
from sparsestudy.data import (ClassificationProblem, make_sparse_classification_problem,  # noqa: E402
                              random_dictionary, sparse_code_stream)


def _stream(D, n_batches, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    draws = [sparse_code_stream(D, 500, **kw)(g) for _ in range(n_batches)]
    return (torch.cat([x for x, _ in draws]).numpy(), torch.cat([z for _, z in draws]).numpy())


@pytest.mark.parametrize("kw", [dict(density=0.15), dict(n_nonzero=4),
                                dict(density=0.3, amplitude="uniform", nonneg=True),
                                dict(n_nonzero=2, amplitude="sign")])
def test_stream_and_numpy_forms_draw_the_same_distribution(kw):
    D = random_dictionary(30, 12, seed=1)
    p = make_sparse_coding_problem(4000, 12, 30, dictionary=D, seed=2, **kw)
    X, Z = _stream(D, 8, **kw)
    # support sizes: the same distribution (chi-square on the counts of each size)
    sizes_np, sizes_t = (p.Z != 0).sum(1), (Z != 0).sum(1)
    if "n_nonzero" in kw:
        assert np.all(sizes_np == kw["n_nonzero"]) and np.all(sizes_t == kw["n_nonzero"])
    else:
        table = np.array([np.bincount(sizes_np, minlength=31), np.bincount(sizes_t, minlength=31)])
        table = table[:, table.sum(0) > 0]
        assert stats.chi2_contingency(table).pvalue > 1e-3
        assert abs(sizes_t.mean() - 30 * kw["density"]) < 0.1
    # which atoms: uniform, the same in both (chi-square on per-atom counts)
    table = np.array([(p.Z != 0).sum(0), (Z != 0).sum(0)])
    assert stats.chi2_contingency(table).pvalue > 1e-3
    # the amplitudes on the support and the signals' entries: two-sample KS
    assert stats.ks_2samp(p.Z[p.Z != 0], Z[Z != 0]).pvalue > 1e-3
    assert stats.ks_2samp(p.X[:, 0], X[:, 0]).pvalue > 1e-3
    np.testing.assert_allclose(X, Z @ D, rtol=0, atol=1e-12)


def test_stream_noise_meets_the_snr_exactly_and_is_gaussian():
    D = random_dictionary(40, 16, seed=3)
    g = torch.Generator().manual_seed(0)
    X, Z = sparse_code_stream(D, 800, density=0.2, snr_db=5.0)(g)
    noise = (X - Z @ torch.from_numpy(D)).numpy()
    clean = (Z @ torch.from_numpy(D)).numpy()
    assert abs(10 * np.log10(np.sum(clean ** 2) / np.sum(noise ** 2)) - 5.0) < 1e-9
    p = make_sparse_coding_problem(800, 16, 40, dictionary=D, density=0.2, snr_db=5.0, seed=1)
    assert stats.ks_2samp(noise.ravel(), p.noise.ravel()).pvalue > 1e-3


def test_stream_is_deterministic_by_generator_and_keeps_dtype():
    D32 = random_dictionary(20, 8, seed=0, dtype=np.float32)
    s = sparse_code_stream(torch.from_numpy(D32), 16, n_nonzero=3, snr_db=20)
    a = s(torch.Generator().manual_seed(4))
    b = s(torch.Generator().manual_seed(4))
    c = s(torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert a[0].dtype == torch.float32 and a[0].shape == (16, 8) and a[1].shape == (16, 20)


def test_stream_bad_input():
    D = random_dictionary(10, 4, seed=0)
    with pytest.raises(ValueError, match="density"):
        sparse_code_stream(D, 8, density=0.0)
    with pytest.raises(ValueError, match="at most one of density and n_nonzero"):
        sparse_code_stream(D, 8, density=0.1, n_nonzero=2)
    with pytest.raises(ValueError, match="n_nonzero"):
        sparse_code_stream(D, 8, n_nonzero=11)
    with pytest.raises(ValueError, match="amplitude"):
        sparse_code_stream(D, 8, amplitude="laplace")
    with pytest.raises(ValueError, match="batch_size"):
        sparse_code_stream(D, 0)
    with pytest.raises(ValueError, match="D must have 2"):
        sparse_code_stream(D[0], 8)
    with pytest.raises(TypeError, match="torch.Generator"):
        sparse_code_stream(D, 8)(0)


# ------------------------------------------------------------------------------ dictionaries
def test_random_dictionary():
    D = random_dictionary(50, 20, seed=7)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, rtol=0, atol=1e-12)
    # the default dictionary of make_sparse_coding_problem is this draw (same NumPy code)
    np.testing.assert_array_equal(make_sparse_coding_problem(3, 20, 50, seed=7).D, D)
    R = random_dictionary(50, 20, seed=7, kind="rademacher")
    np.testing.assert_array_equal(np.abs(R), 1 / np.sqrt(20))
    assert abs(np.mean(R > 0) - 0.5) < 0.05
    assert random_dictionary(5, 4, seed=0, dtype=np.float32).dtype == np.float32
    # Gaussian rows normalised: uniform directions. A coordinate t of a uniform point on the
    # sphere in R^n has (t + 1) / 2 ~ Beta((n - 1) / 2, (n - 1) / 2)
    big = random_dictionary(20_000, 5, seed=1)
    assert stats.kstest((big[:, 0] + 1) / 2, stats.beta(2, 2).cdf).pvalue > 1e-3
    assert abs(big[:, 0].var() - 1 / 5) < 0.01
    with pytest.raises(ValueError, match="kind"):
        random_dictionary(5, 4, kind="dct")
    with pytest.raises(ValueError, match="n_atoms"):
        random_dictionary(0, 4)


# -------------------------------------------------------------------- the labelled problem
def _c05_class_problem(seed, n_features, width, n_classes, k, snr_db, n_train, n_test):
    """The C05 notebook's generator (``class_problem``), copied as the reference."""
    rng = np.random.default_rng(seed)
    D = make_sparse_coding_problem(1, n_features, width, n_nonzero=1, seed=rng).D
    group = width // n_classes

    def draw(n):
        y = rng.integers(0, n_classes, n)
        Z = np.zeros((n, width))
        for i in range(n):
            Z[i, y[i] * group + rng.choice(group, k, replace=False)] = rng.uniform(0.5, 1.5, k)
        X0 = Z @ D
        X = X0 + rng.standard_normal(X0.shape) * np.sqrt((X0 ** 2).mean() / 10 ** (snr_db / 10))
        return X, y, Z

    return D, draw(n_train), draw(n_test)


def test_classification_problem_has_c05s_distribution():
    f, a, c, k, snr = 16, 40, 4, 3, 10.0
    _, (Xr, yr, Zr), _ = _c05_class_problem(0, f, a, c, k, snr, 3000, 10)
    p = make_sparse_classification_problem(3000, f, a, c, n_nonzero=k, snr_db=snr, seed=1)
    assert isinstance(p, ClassificationProblem) and p.y.dtype == np.int64
    assert p.X.shape == (3000, f) and p.Z.shape == (3000, a) and p.D.shape == (a, f)
    np.testing.assert_allclose(np.linalg.norm(p.D, axis=1), 1.0, atol=1e-12)
    group = a // c
    for Z, y in ((p.Z, p.y), (Zr, yr)):
        assert np.all((Z != 0).sum(1) == k)
        assert np.all((np.nonzero(Z)[1] // group) == np.repeat(y, k))   # the class's group
    # labels uniform, atoms within a group uniform, amplitudes U(0.5, 1.5): as the reference
    assert stats.chi2_contingency([np.bincount(p.y, minlength=c),
                                   np.bincount(yr, minlength=c)]).pvalue > 1e-3
    within = lambda Z: np.nonzero(Z)[1] % group                       # noqa: E731
    assert stats.chi2_contingency([np.bincount(within(p.Z), minlength=group),
                                   np.bincount(within(Zr), minlength=group)]).pvalue > 1e-3
    assert stats.ks_2samp(p.Z[p.Z != 0], Zr[Zr != 0]).pvalue > 1e-3
    assert stats.kstest(p.Z[p.Z != 0], stats.uniform(0.5, 1.0).cdf).pvalue > 1e-3
    # noise: per-entry variance mean(X0^2) / 10^(snr/10) (SNR in expectation)
    clean = p.Z @ p.D
    noise = p.X - clean
    sigma2 = np.mean(clean ** 2) / 10 ** (snr / 10)
    assert stats.kstest(noise.ravel() / np.sqrt(sigma2), "norm").pvalue > 1e-3
    exact = make_sparse_classification_problem(300, f, a, c, n_nonzero=k, snr_db=snr, seed=1,
                                               exact_snr=True)
    ce = exact.Z @ exact.D
    assert abs(10 * np.log10(np.sum(ce ** 2) / np.sum((exact.X - ce) ** 2)) - snr) < 1e-9


def test_classification_train_and_test_share_a_dictionary():
    rng = np.random.default_rng(0)
    D = random_dictionary(40, 20, seed=rng)
    tr = make_sparse_classification_problem(50, 20, 40, 4, n_nonzero=3, dictionary=D, seed=rng)
    te = make_sparse_classification_problem(50, 20, 40, 4, n_nonzero=3, dictionary=D, seed=rng)
    np.testing.assert_array_equal(tr.D, te.D)
    assert not np.array_equal(tr.Z, te.Z)
    np.testing.assert_allclose(tr.X, tr.Z @ D, rtol=0, atol=1e-12)      # noiseless
    again = make_sparse_classification_problem(50, 20, 40, 4, n_nonzero=3, seed=9)
    same = make_sparse_classification_problem(50, 20, 40, 4, n_nonzero=3, seed=9)
    np.testing.assert_array_equal(again.X, same.X)


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(n_nonzero=11), ValueError, "n_nonzero"),
    (dict(n_classes=41), ValueError, "n_classes"),
    (dict(amplitude_range=(1.5, 0.5)), ValueError, "amplitude_range"),
    (dict(amplitude_range=1.0), TypeError, "amplitude_range"),
    (dict(exact_snr="yes"), TypeError, "exact_snr"),
    (dict(dictionary=np.zeros((3, 3))), ValueError, "dictionary"),
])
def test_classification_bad_input(kwargs, exc, word):
    args = dict(n_classes=4, n_nonzero=3)
    args.update(kwargs)
    n_classes = args.pop("n_classes")
    with pytest.raises(exc, match=word):
        make_sparse_classification_problem(20, 20, 40, n_classes, **args)
