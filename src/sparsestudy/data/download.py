"""Optional downloads: full MNIST and CIFAR-10, fetched with pooch, checksum-verified, cached.

Nothing in the study *needs* these files (CI never downloads); they let a reader rerun C06 at
Coates & Ng's scale. Files are pinned by SHA-256 and cached in :func:`data_dir`
(``$SPARSESTUDY_DATA`` if set, else ``~/.cache/sparsestudy``). A download is written to a
temporary file and moved into the cache only when its checksum matches, so a failed or
tampered download never leaves a file behind; a cached file whose checksum no longer matches
is deleted and fetched again. MNIST is parsed from its idx format and CIFAR-10 from its
*binary* version with NumPy: no downloaded bytes are ever unpickled, and the tar archive is read
member by member in memory (nothing is extracted to disk).
"""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "DATASETS", "DownloadError", "data_dir", "fetch", "read_idx", "read_cifar_binary",
    "load_mnist", "load_cifar10",
]


class DownloadError(OSError):
    """A file could not be downloaded (no network, server down, ...)."""


#: file name -> (URLs tried in order, SHA-256). MNIST: the four idx archives (the ossci mirror
#: used by torchvision first, then LeCun's page). CIFAR-10: the binary version from its authors.
DATASETS: dict[str, tuple[tuple[str, ...], str]] = {
    "train-images-idx3-ubyte.gz": (
        ("https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
         "https://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz"),
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (
        ("https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
         "https://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz"),
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (
        ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
         "https://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz"),
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (
        ("https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
         "https://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz"),
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    "cifar-10-binary.tar.gz": (
        ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
}

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CIFAR_RECORD = 1 + 32 * 32 * 3
_CIFAR_MEMBERS = {
    "train": [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)],
    "test": ["cifar-10-batches-bin/test_batch.bin"],
}


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The download cache: ``path`` if given, else ``$SPARSESTUDY_DATA``, else
    ``~/.cache/sparsestudy``."""
    if path is None:
        path = os.environ.get("SPARSESTUDY_DATA") or Path.home() / ".cache" / "sparsestudy"
    return Path(path).expanduser()


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str, *, cache: str | os.PathLike | None = None, urls: Any = None,
          sha256: str | None = None, downloader: Callable | None = None,
          progressbar: bool = False) -> Path:
    """Return the local path of a registered file, downloading and verifying it if needed.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (or any file name when ``urls`` and ``sha256`` are given).
    cache : path, optional
        Cache directory (default :func:`data_dir`).
    urls : str or list of str, optional
        Override the registered URLs (tried in order).
    sha256 : str, optional
        Override the registered SHA-256 (hex).
    downloader : callable, optional
        A pooch downloader ``(url, output_file, pooch)``; default chosen by pooch from the URL.
    progressbar : bool
        Show pooch's progress bar (needs tqdm).

    Raises
    ------
    ValueError
        Unknown name, or the downloaded file's SHA-256 differs from the pinned one (the file is
        deleted, nothing is cached).
    DownloadError
        Every URL failed (typically: no network); the message says where to put the file by hand.
    """
    import pooch

    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name in DATASETS:
        reg_urls, reg_hash = DATASETS[name]
    elif urls is None or sha256 is None:
        raise ValueError(f"name: unknown file {name!r}; expected one of {', '.join(DATASETS)}")
    else:
        reg_urls, reg_hash = (), None
    urls = reg_urls if urls is None else ((urls,) if isinstance(urls, str) else tuple(urls))
    sha = (sha256 or reg_hash).lower()
    folder = data_dir(cache)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        if _sha256(target) == sha:
            return target
        target.unlink()  # corrupt or stale: never keep it
    errors = []
    for url in urls:
        try:
            path = pooch.retrieve(url, known_hash=f"sha256:{sha}", fname=name, path=folder,
                                  downloader=downloader, progressbar=progressbar)
            return Path(path)
        except ValueError as err:
            if target.exists():
                target.unlink()
            if "hash" in str(err).lower():
                raise ValueError(
                    f"checksum mismatch for {name} downloaded from {url}: {err} "
                    f"The file was discarded; nothing was written to {folder}."
                ) from err
            errors.append(f"{url}: {err}")
        except Exception as err:  # network errors (requests), OSError from a downloader, ...
            if target.exists() and _sha256(target) != sha:
                target.unlink()
            errors.append(f"{url}: {type(err).__name__}: {err}")
    raise DownloadError(
        f"could not download {name} (are you offline?). Tried:\n  " + "\n  ".join(errors)
        + f"\nDownload it by hand into {folder} (SHA-256 {sha}) or set SPARSESTUDY_DATA to a "
        "folder that holds it."
    )


def _read_bytes(source: str | os.PathLike | bytes) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    else:
        raw = Path(source).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, gzip.BadGzipFile) as err:
            raise ValueError(f"truncated or corrupt gzip data ({err})") from err
    return raw


def read_idx(source: str | os.PathLike | bytes) -> np.ndarray:
    """Parse an idx file (MNIST's format; gzip-compressed or not) into a NumPy array.

    ``source`` is a path or the file's bytes. Raises ``ValueError`` for a bad magic number or
    a file shorter or longer than its header says (truncated download).
    """
    raw = _read_bytes(source)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError("not an idx file: bad magic number")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError("truncated idx file: incomplete header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - head
    if got != expected:
        kind = "truncated" if got < expected else "corrupt"
        raise ValueError(
            f"{kind} idx file: header says shape {shape} ({expected} bytes of data), found {got}"
        )
    out = np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)
    return out.astype(dtype.newbyteorder("="))


def read_cifar_binary(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-10 binary records (1 label byte + 3072 pixel bytes, channel-major).

    Returns ``X`` uint8 ``(n, 32, 32, 3)`` (height, width, RGB) and ``y`` int64 ``(n,)``.
    Raises ``ValueError`` when the length is not a whole number of records or a label is > 9.
    """
    if len(data) == 0 or len(data) % _CIFAR_RECORD:
        raise ValueError(
            f"truncated or corrupt CIFAR-10 batch: {len(data)} bytes is not a positive multiple "
            f"of the {_CIFAR_RECORD}-byte record"
        )
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    y = rec[:, 0].astype(np.int64)
    if y.max() > 9:
        raise ValueError("corrupt CIFAR-10 batch: label byte > 9")
    X = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return X, y


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _parse_or_discard(path: Path, parse: Callable[[Path], Any]) -> Any:
    try:
        return parse(path)
    except (ValueError, EOFError, tarfile.TarError, KeyError) as err:
        if path.exists():
            path.unlink()
        raise ValueError(f"{path.name} is truncated or corrupt and was removed from the "
                         f"cache: {err}") from err


def load_mnist(split: str = "train", *, cache: str | os.PathLike | None = None,
               downloader: Callable | None = None, progressbar: bool = True,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Full MNIST (60,000 train / 10,000 test), downloaded once and cached (see :func:`fetch`).

    Returns ``X`` float64 ``(n, 784)`` in ``[0, 1]`` and ``y`` int64 ``(n,)``, like
    :func:`~sparsestudy.data.load_mnist5k`.
    """
    prefix = {"train": "train", "test": "t10k"}[_check_split(split)]
    img = fetch(f"{prefix}-images-idx3-ubyte.gz", cache=cache, downloader=downloader,
                progressbar=progressbar)
    lab = fetch(f"{prefix}-labels-idx1-ubyte.gz", cache=cache, downloader=downloader,
                progressbar=progressbar)
    images = _parse_or_discard(img, read_idx)
    labels = _parse_or_discard(lab, read_idx)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST {split}: images {images.shape} and labels {labels.shape} "
                         "do not match")
    return images.reshape(len(images), -1).astype(np.float64) / 255.0, labels.astype(np.int64)


def _read_cifar_archive(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    Xs, ys = [], []
    with tarfile.open(path, mode="r:gz") as tar:
        for member in _CIFAR_MEMBERS[split]:
            info = tar.getmember(member)  # KeyError if missing
            if not info.isfile():
                raise ValueError(f"{member} is not a regular file")
            f = tar.extractfile(info)
            data = f.read()
            if len(data) != info.size:
                raise ValueError(f"{member}: expected {info.size} bytes, read {len(data)}")
            X, y = read_cifar_binary(data)
            Xs.append(X)
            ys.append(y)
    return np.concatenate(Xs), np.concatenate(ys)


def load_cifar10(split: str = "train", *, cache: str | os.PathLike | None = None,
                 downloader: Callable | None = None, progressbar: bool = True,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 (50,000 train / 10,000 test 32x32 colour images) from its binary version.

    Downloaded once and cached (see :func:`fetch`); the ``.bin`` members are read from the
    archive in memory, never unpickled or extracted. Returns ``X`` uint8
    ``(n, 32, 32, 3)`` and ``y`` int64 ``(n,)`` (classes airplane, automobile, bird, cat, deer,
    dog, frog, horse, ship, truck).
    """
    split = _check_split(split)
    path = fetch("cifar-10-binary.tar.gz", cache=cache, downloader=downloader,
                 progressbar=progressbar)
    return _parse_or_discard(path, lambda p: _read_cifar_archive(p, split))
