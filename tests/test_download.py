"""Optional downloads, tested offline on small files the tests generate (no network)."""

import gzip
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sparsestudy.data import download as dl


def _idx_bytes(arr: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float64): 0x0E}
    code = codes[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _local_downloader(src: Path):
    """A pooch-style downloader that copies a local file (stands in for HTTP)."""
    def download(url, output_file, pooch):
        with open(src, "rb") as f:
            data = f.read()
        if hasattr(output_file, "write"):
            output_file.write(data)
        else:
            Path(output_file).write_bytes(data)
    return download


def _offline_downloader(url, output_file, pooch):
    import requests

    raise requests.exceptions.ConnectionError("Failed to resolve host (no network)")


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    files, registry = {}, dict(dl.DATASETS)
    for prefix, n in (("train", 7), ("t10k", 3)):
        imgs = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labs = rng.integers(0, 10, size=n).astype(np.uint8)
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labs)):
            name = f"{prefix}-{kind}-ubyte.gz"
            raw = gzip.compress(_idx_bytes(arr))
            (tmp_path / "src").mkdir(exist_ok=True)
            (tmp_path / "src" / name).write_bytes(raw)
            registry[name] = (("https://example.invalid/" + name,), _sha(raw))
            files[name] = arr
    monkeypatch.setattr(dl, "DATASETS", registry)
    return tmp_path, files


def _serve(src_dir: Path):
    def download(url, output_file, pooch):
        return _local_downloader(src_dir / url.rsplit("/", 1)[1])(url, output_file, pooch)
    return download


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSESTUDY_DATA", str(tmp_path / "x"))
    assert dl.data_dir() == tmp_path / "x"
    monkeypatch.delenv("SPARSESTUDY_DATA")
    assert dl.data_dir() == Path.home() / ".cache" / "sparsestudy"
    assert dl.data_dir(tmp_path) == tmp_path


def test_pinned_hashes_look_right():
    assert set(dl.DATASETS) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                "cifar-10-binary.tar.gz"}
    for urls, sha in dl.DATASETS.values():
        assert len(sha) == 64 and int(sha, 16) >= 0
        assert all(u.startswith("https://") for u in urls)


def test_read_idx_roundtrip():
    a = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4) - 5
    np.testing.assert_array_equal(dl.read_idx(_idx_bytes(a)), a)
    b = np.random.default_rng(1).random((4, 5))
    np.testing.assert_array_equal(dl.read_idx(gzip.compress(_idx_bytes(b))), b)


def test_read_idx_truncated_and_bad_magic():
    a = np.zeros((10, 28, 28), np.uint8)
    raw = _idx_bytes(a)
    with pytest.raises(ValueError, match="truncated idx"):
        dl.read_idx(raw[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt gzip"):
        dl.read_idx(gzip.compress(raw)[:-50])
    with pytest.raises(ValueError, match="magic"):
        dl.read_idx(b"\x01\x02\x03\x04" + raw[4:])


def test_load_mnist_from_fake_files(fake_mnist):
    tmp, files = fake_mnist
    cache = tmp / "cache"
    X, y = dl.load_mnist("train", cache=cache, downloader=_serve(tmp / "src"), progressbar=False)
    assert X.shape == (7, 784) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_allclose(X * 255, files["train-images-idx3-ubyte.gz"].reshape(7, -1))
    np.testing.assert_array_equal(y, files["train-labels-idx1-ubyte.gz"])
    Xt, yt = dl.load_mnist("test", cache=cache, downloader=_serve(tmp / "src"), progressbar=False)
    assert Xt.shape == (3, 784)
    # second call is served from the cache: an offline downloader is never used
    X2, _ = dl.load_mnist("train", cache=cache, downloader=_offline_downloader)
    np.testing.assert_array_equal(X, X2)


def test_checksum_mismatch_leaves_nothing(fake_mnist):
    tmp, _ = fake_mnist
    name = "train-labels-idx1-ubyte.gz"
    (tmp / "src" / name).write_bytes(b"tampered" + (tmp / "src" / name).read_bytes())
    cache = tmp / "cache"
    with pytest.raises(ValueError, match="checksum mismatch"):
        dl.fetch(name, cache=cache, downloader=_serve(tmp / "src"))
    assert list(cache.iterdir()) == []


def test_corrupt_cached_file_is_replaced(fake_mnist):
    tmp, _ = fake_mnist
    name = "t10k-labels-idx1-ubyte.gz"
    cache = tmp / "cache"
    cache.mkdir()
    (cache / name).write_bytes(b"garbage")
    path = dl.fetch(name, cache=cache, downloader=_serve(tmp / "src"))
    assert path.read_bytes() == (tmp / "src" / name).read_bytes()


def test_truncated_download_is_refused(fake_mnist):
    tmp, _ = fake_mnist
    name = "t10k-images-idx3-ubyte.gz"
    src = tmp / "src" / name
    src.write_bytes(src.read_bytes()[:-40])  # the pinned hash no longer matches
    cache = tmp / "cache"
    with pytest.raises(ValueError, match="checksum mismatch"):
        dl.fetch(name, cache=cache, downloader=_serve(tmp / "src"))
    assert not (cache / name).exists()


def test_truncated_file_with_matching_hash_gives_clear_error(tmp_path, monkeypatch):
    # a file truncated at the source (hash pinned to the truncated bytes): the parser catches it
    raw = gzip.compress(_idx_bytes(np.zeros((5, 28, 28), np.uint8)))[:-30]
    lab = gzip.compress(_idx_bytes(np.zeros(5, np.uint8)))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(raw)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(lab)
    reg = dict(dl.DATASETS)
    reg["t10k-images-idx3-ubyte.gz"] = (("https://example.invalid/a",), _sha(raw))
    reg["t10k-labels-idx1-ubyte.gz"] = (("https://example.invalid/b",), _sha(lab))
    monkeypatch.setattr(dl, "DATASETS", reg)
    cache = tmp_path / "cache"
    cache.mkdir()
    for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(tmp_path / n, cache / n)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        dl.load_mnist("test", cache=cache, downloader=_offline_downloader)
    assert not (cache / "t10k-images-idx3-ubyte.gz").exists()


def test_offline_gives_clear_message(tmp_path):
    with pytest.raises(dl.DownloadError, match="offline") as info:
        dl.fetch("cifar-10-binary.tar.gz", cache=tmp_path, downloader=_offline_downloader)
    assert str(tmp_path) in str(info.value) and "SHA-256" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unknown_name():
    with pytest.raises(ValueError, match="name"):
        dl.fetch("nope.gz")


def _cifar_tar(tmp_path, n_per_batch=4, truncate=False):
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    truth = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = dl._CIFAR_MEMBERS["train"] + dl._CIFAR_MEMBERS["test"]
        for m in members:
            X = rng.integers(0, 256, size=(n_per_batch, 32, 32, 3)).astype(np.uint8)
            y = rng.integers(0, 10, size=n_per_batch).astype(np.uint8)
            rec = np.concatenate([y[:, None], X.transpose(0, 3, 1, 2).reshape(n_per_batch, -1)], 1)
            data = rec.tobytes()
            if truncate and m.endswith("test_batch.bin"):
                data = data[:-7]
            info = tarfile.TarInfo(m)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            truth[m] = (X, y)
        # a pickle member must be ignored, never read
        info = tarfile.TarInfo("cifar-10-batches-bin/evil.pkl")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    raw = buf.getvalue()
    path = tmp_path / "src" / "cifar-10-binary.tar.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    return path, raw, truth


def _register_cifar(monkeypatch, raw):
    """Point the registry's CIFAR-10 entry at a local archive with bytes ``raw``."""
    reg = dict(dl.DATASETS)
    reg["cifar-10-binary.tar.gz"] = (("https://example.invalid/c",), _sha(raw))
    monkeypatch.setattr(dl, "DATASETS", reg)


def test_load_cifar10_binary(tmp_path, monkeypatch):
    path, raw, truth = _cifar_tar(tmp_path)
    _register_cifar(monkeypatch, raw)
    X, y = dl.load_cifar10("train", cache=tmp_path / "cache", downloader=_local_downloader(path),
                           progressbar=False)
    assert X.shape == (20, 32, 32, 3) and X.dtype == np.uint8 and y.dtype == np.int64
    exp = np.concatenate([truth[m][0] for m in dl._CIFAR_MEMBERS["train"]])
    np.testing.assert_array_equal(X, exp)
    Xt, yt = dl.load_cifar10("test", cache=tmp_path / "cache", downloader=_offline_downloader)
    np.testing.assert_array_equal(yt, truth[dl._CIFAR_MEMBERS["test"][0]][1])


def test_cifar_truncated_member_gives_clear_error(tmp_path, monkeypatch):
    path, raw, _ = _cifar_tar(tmp_path, truncate=True)
    _register_cifar(monkeypatch, raw)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="truncated or corrupt"):
        dl.load_cifar10("test", cache=cache, downloader=_local_downloader(path))
    assert not (cache / "cifar-10-binary.tar.gz").exists()


def test_cifar_truncated_archive(tmp_path, monkeypatch):
    path, raw, _ = _cifar_tar(tmp_path)
    raw = raw[: len(raw) // 2]
    path.write_bytes(raw)
    _register_cifar(monkeypatch, raw)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="truncated or corrupt"):
        dl.load_cifar10("train", cache=cache, downloader=_local_downloader(path))
    assert not (cache / "cifar-10-binary.tar.gz").exists()


def test_read_cifar_binary_rejects_partial_record():
    with pytest.raises(ValueError, match="multiple"):
        dl.read_cifar_binary(b"\x00" * 3000)


# ------------------------------------------------------------------- the load_dataset contract
def test_load_dataset_cifar10_contract(tmp_path, monkeypatch):
    from sparsestudy.data import Dataset, load_dataset

    path, raw, truth = _cifar_tar(tmp_path)
    _register_cifar(monkeypatch, raw)
    d = load_dataset("cifar10", cache=tmp_path / "cache", downloader=_local_downloader(path))
    assert isinstance(d, Dataset) and d.name == "cifar10" and d.n_classes == 10
    assert d.image_shape == (32, 32, 3) and d.X.shape == (20, 3072) and len(d) == 20
    assert d.X.dtype == np.float64 and d.y.dtype == np.int64
    assert d.X.min() >= 0 and d.X.max() <= 1
    # row-major (H, W, C) flattening of the uint8 images, divided by 255
    exp = np.concatenate([truth[m][0] for m in dl._CIFAR_MEMBERS["train"]])
    np.testing.assert_allclose(d.X.reshape(20, 32, 32, 3) * 255, exp, rtol=0, atol=1e-9)
    t = load_dataset("cifar10", split="test", cache=tmp_path / "cache",
                     downloader=_offline_downloader)
    np.testing.assert_array_equal(t.y, truth[dl._CIFAR_MEMBERS["test"][0]][1])
    with pytest.raises(ValueError, match="split"):
        load_dataset("cifar10", split="val", cache=tmp_path / "cache")


def test_load_dataset_mnist_download_contract(fake_mnist):
    from sparsestudy.data import load_dataset

    tmp_path, files = fake_mnist
    d = load_dataset("mnist", split="test", cache=tmp_path / "cache",
                     downloader=_serve(tmp_path / "src"))
    assert d.image_shape == (28, 28, 1) and d.X.shape == (3, 784)
    np.testing.assert_allclose(d.X * 255, files["t10k-images-idx3-ubyte.gz"].reshape(3, -1),
                               rtol=0, atol=1e-9)
    np.testing.assert_array_equal(d.y, files["t10k-labels-idx1-ubyte.gz"])
