"""Tests of the array plumbing in ``sparsestudy._arrays``: conversions and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sparsestudy._arrays import (
    as_tensor,
    check_int,
    check_scalar,
    common_dtype,
    is_numpy_like,
    restore,
)


# ------------------------------------------------------------------------------- as_tensor dtypes
@pytest.mark.parametrize(
    "value, expected",
    [
        (np.array([1.5, -2.0], dtype=np.float32), torch.float32),
        (np.array([1.5, -2.0], dtype=np.float64), torch.float64),
        (np.array([1, 2, 3], dtype=np.int64), torch.float64),
        (np.array([1, 2, 3], dtype=np.int32), torch.float64),
        (np.array([1, 2, 3], dtype=np.uint8), torch.float64),
        (np.array([True, False]), torch.float64),
        ([1, 2, 3], torch.float64),
        ([[1.0, 2.0], [3.0, 4.0]], torch.float64),
        ((1, 2), torch.float64),
        (3, torch.float64),
        (2.5, torch.float64),
        (np.float32(2.5), torch.float32),
        (np.int16(7), torch.float64),
        (torch.tensor([1.0, 2.0], dtype=torch.float32), torch.float32),
        (torch.tensor([1.0, 2.0], dtype=torch.float64), torch.float64),
        (torch.tensor([1, 2], dtype=torch.int64), torch.float64),
        (torch.tensor([True, False]), torch.float64),
        (torch.tensor([1.0, 2.0], dtype=torch.float16), torch.float32),
        (torch.tensor([1.0, 2.0], dtype=torch.bfloat16), torch.float32),
    ],
)
def test_as_tensor_dtype_rules(value, expected):
    t = as_tensor(value, "x")
    assert isinstance(t, torch.Tensor)
    assert t.dtype == expected
    if isinstance(value, torch.Tensor):
        ref = value.double().numpy()
    else:
        ref = np.asarray(value, np.float64)
    np.testing.assert_array_equal(t.double().numpy(), ref)


@pytest.mark.parametrize("value", [3, 2.5, np.float64(2.0), np.float32(1.0), np.array(4.0),
                                   torch.tensor(4.0)])
def test_as_tensor_keeps_scalars_zero_dimensional(value):
    # a scalar is 0-d: it must not silently become shape (1,)
    t = as_tensor(value, "x")
    assert t.shape == ()
    assert float(t) == float(value)


def test_as_tensor_numpy_float16_becomes_float32():
    # float16 is a floating type: it is widened to float32 (as the torch path does), not float64
    t = as_tensor(np.array([0.5, 1.0], dtype=np.float16), "x")
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), [0.5, 1.0])


def test_as_tensor_float16_same_dtype_from_numpy_and_torch():
    a = np.array([0.25, -3.0], dtype=np.float16)
    assert as_tensor(a, "x").dtype == as_tensor(torch.from_numpy(a), "x").dtype


def test_as_tensor_keeps_values_and_shape():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 2))
    t = as_tensor(a, "x")
    assert t.shape == (3, 4, 2)
    np.testing.assert_array_equal(t.numpy(), a)


def test_as_tensor_non_contiguous_numpy():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    t = as_tensor(a, "x")
    np.testing.assert_array_equal(t.numpy(), a)
    a_f = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(as_tensor(a_f, "x").numpy(), a_f)


def test_as_tensor_explicit_dtype_and_device():
    t = as_tensor(np.array([1, 2]), "x", dtype=torch.float32, device="cpu")
    assert t.dtype == torch.float32 and t.device.type == "cpu"
    t = as_tensor(torch.tensor([1.0], dtype=torch.float32), "x", dtype=torch.float64)
    assert t.dtype == torch.float64


def test_as_tensor_passes_torch_tensor_through_with_grad():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    t = as_tensor(x, "x")
    assert t.requires_grad
    t.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


# ------------------------------------------------------------------------------- as_tensor errors
@pytest.mark.parametrize(
    "value",
    [
        np.array([1, "a"], dtype=object),
        np.array([1.0, 2.0], dtype=object),
        np.array(["a", "b"]),
        ["a", "b"],
        np.array([b"a"]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ],
)
def test_as_tensor_non_numeric_numpy_is_type_error(value):
    with pytest.raises(TypeError, match="signal"):
        as_tensor(value, "signal")


@pytest.mark.parametrize("value", ["abc", None, {"a": 1}, object(), {1, 2}])
def test_as_tensor_foreign_objects_are_type_error(value):
    with pytest.raises(TypeError, match="signal"):
        as_tensor(value, "signal")


@pytest.mark.parametrize(
    "value",
    [
        np.array([1 + 2j, 3.0]),
        np.complex64(1j),
        1 + 1j,
        torch.tensor([1 + 1j]),
    ],
)
def test_as_tensor_complex_is_type_error(value):
    with pytest.raises(TypeError, match="signal.*real"):
        as_tensor(value, "signal")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["numpy", "torch32", "list"])
def test_as_tensor_non_finite_is_value_error(bad, kind):
    values = [1.0, bad, 3.0]
    if kind == "numpy":
        value = np.array(values)
    elif kind == "torch32":
        value = torch.tensor(values, dtype=torch.float32)
    else:
        value = values
    with pytest.raises(ValueError, match="signal"):
        as_tensor(value, "signal")


def test_as_tensor_check_finite_can_be_disabled():
    t = as_tensor(np.array([np.nan, 1.0]), "x", check_finite=False)
    assert torch.isnan(t[0]) and t[1] == 1.0


def test_as_tensor_ragged_list_names_argument():
    with pytest.raises((ValueError, TypeError), match="signal"):
        as_tensor([[1.0, 2.0], [3.0]], "signal")


@pytest.mark.parametrize("shape, ndim, ok", [
    ((3,), 1, True), ((3,), 2, False), ((2, 3), 2, True), ((2, 3, 4), 2, False),
    ((), 1, False), ((2, 3), (1, 2), True), ((2, 3, 4), (1, 2), False), ((), 0, True),
])
def test_as_tensor_ndim(shape, ndim, ok):
    a = np.zeros(shape)
    if ok:
        assert as_tensor(a, "codes", ndim=ndim).shape == shape
    else:
        with pytest.raises(ValueError, match="codes must have .* dimensions"):
            as_tensor(a, "codes", ndim=ndim)


def test_as_tensor_ndim_message_lists_alternatives():
    with pytest.raises(ValueError, match=r"1 or 2 dimensions, got shape \(1, 1, 1\)"):
        as_tensor(np.zeros((1, 1, 1)), "x", ndim=(1, 2))


@pytest.mark.parametrize("shape, ok", [((), False), ((3,), True), ((2, 3), True)])
def test_as_tensor_min_ndim(shape, ok):
    if ok:
        as_tensor(np.zeros(shape), "x", min_ndim=1)
    else:
        with pytest.raises(ValueError, match="x must have at least 1 dimensions"):
            as_tensor(np.zeros(shape), "x", min_ndim=1)


# ------------------------------------------------------------------------------------- restore
def test_restore_numpy_roundtrip():
    a = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    out = restore(as_tensor(a, "x") * 2, True)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, a * 2)


def test_restore_torch_returns_tensor_itself():
    t = torch.arange(3.0)
    assert restore(t, False) is t


def test_restore_detaches_graph_for_numpy():
    x = torch.ones(3, requires_grad=True)
    out = restore(x * 2, True)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [2.0, 2.0, 2.0])


def test_is_numpy_like():
    assert is_numpy_like(np.zeros(2))
    assert is_numpy_like([1.0])
    assert is_numpy_like(1.0)
    assert not is_numpy_like(torch.zeros(2))


def test_common_dtype():
    f32, f64 = torch.zeros(1, dtype=torch.float32), torch.zeros(1, dtype=torch.float64)
    assert common_dtype(f32, f32) == torch.float32
    assert common_dtype(f32, f64) == torch.float64
    assert common_dtype(f64, f32, f32) == torch.float64


# --------------------------------------------------------------------------------- check_scalar
@pytest.mark.parametrize("value", [0, 1, 0.5, np.float64(2.0), np.float32(0.1), np.int64(3)])
def test_check_scalar_accepts_reals(value):
    assert check_scalar(value, "alpha", min_value=0) == value


@pytest.mark.parametrize("value", ["0.1", None, [1.0], np.array([1.0]), 1j, True, False])
def test_check_scalar_type_errors_name_argument(value):
    with pytest.raises(TypeError, match="alpha must be"):
        check_scalar(value, "alpha")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, float("nan")])
def test_check_scalar_non_finite(value):
    with pytest.raises(ValueError, match="alpha must be finite"):
        check_scalar(value, "alpha")


def test_check_scalar_bounds():
    with pytest.raises(ValueError, match=r"alpha must be >= 0"):
        check_scalar(-1e-12, "alpha", min_value=0)
    with pytest.raises(ValueError, match=r"alpha must be > 0"):
        check_scalar(0.0, "alpha", min_value=0, include_min=False)
    with pytest.raises(ValueError, match=r"alpha must be <= 1"):
        check_scalar(1.5, "alpha", max_value=1)
    with pytest.raises(ValueError, match=r"alpha must be < 1"):
        check_scalar(1.0, "alpha", max_value=1, include_max=False)
    assert check_scalar(0.0, "alpha", min_value=0) == 0.0
    assert check_scalar(1.0, "alpha", max_value=1) == 1.0


def test_check_scalar_kind_tuple_message():
    with pytest.raises(TypeError, match="p must be int or float, got str"):
        check_scalar("x", "p", kind=(int, float))


# ------------------------------------------------------------------------------------ check_int
@pytest.mark.parametrize("value", [0, 5, np.int64(5), np.int32(2), np.uint8(1)])
def test_check_int_accepts_integers(value):
    out = check_int(value, "k", min_value=0)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [1.0, 2.5, np.float64(3.0), "3", True, None])
def test_check_int_type_errors(value):
    with pytest.raises(TypeError, match="k must be Integral"):
        check_int(value, "k")


def test_check_int_bounds():
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        check_int(0, "k", min_value=1)
    with pytest.raises(ValueError, match="k must be <= 4, got 5"):
        check_int(5, "k", max_value=4)
    assert check_int(4, "k", min_value=1, max_value=4) == 4
