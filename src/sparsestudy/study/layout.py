"""Where the study keeps its things, and how they are named: defined once, here.

* The project root is the nearest directory holding ``_config.yml`` and ``pyproject.toml``.
* A claim id is ``C`` and two digits (``C04``); its notebook is
  ``notebooks/c04_<slug>.ipynb``; its record is ``<results>/C04.json``.
* The results of a profile live in ``$SPARSESTUDY_RESULTS/<profile>`` when that variable is
  set (the test suite sets it, so that tests never touch real results), else in
  ``<root>/results/<profile>``. Inside: the records, ``runs.json`` (the runner's state),
  ``executed/`` and ``failed/`` notebooks, and ``.lock`` while a run is in progress.
* The published (full-profile) records are committed in ``book/records/full/``.

Every write goes through :func:`atomic_write_text` (a temporary file, then ``os.replace``), so a
reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator

#: a claim id: ``C`` and two digits
CLAIM_ID = re.compile(r"^C\d{2}$")
#: a claim notebook's stem: ``c04_hard_threshold``; group 1 is the claim number
NOTEBOOK_STEM = re.compile(r"^c(\d{2})_[A-Za-z0-9_]+$")
NOTEBOOK_GLOB = "c[0-9][0-9]_*.ipynb"
RECORD_GLOB = "C[0-9][0-9].json"
#: a profile name (``quick``, ``full``)
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
STATE_FILE = "runs.json"
LOCK_FILE = ".lock"
RESULTS_ENV = "SPARSESTUDY_RESULTS"


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding ``_config.yml`` and
    ``pyproject.toml``; the current directory if there is none."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_config.yml").is_file() and (d / "pyproject.toml").is_file():
            return d
    return here


def check_profile(profile: object) -> str:
    if not isinstance(profile, str) or not PROFILE_NAME.match(profile):
        raise ValueError(f"profile must be a plain name like 'quick', got {profile!r}")
    return profile


def check_claim(claim: object) -> str:
    if not isinstance(claim, str) or not CLAIM_ID.match(claim):
        raise ValueError(f"claim must look like 'C01', got {claim!r}")
    return claim


def results_dir(profile: str, root: str | os.PathLike | None = None) -> Path:
    """The results folder of ``profile`` (see the module docstring)."""
    check_profile(profile)
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env).resolve() / profile
    root = Path(root) if root is not None else project_root()
    return root / "results" / profile


def chosen_results_dir(profile: str, root: str | os.PathLike | None = None,
                       explicit: str | os.PathLike | None = None) -> Path:
    """``explicit`` when a caller names a results folder, else :func:`results_dir`."""
    return Path(explicit) if explicit is not None else results_dir(profile, root)


def notebooks_dir(root: str | os.PathLike) -> Path:
    return Path(root) / "notebooks"


def published_dir(root: str | os.PathLike | None = None) -> Path:
    """``<root>/book/records/full``: the study's published verdicts (committed)."""
    root = Path(root) if root is not None else project_root()
    return root / "book" / "records" / "full"


def claim_of_stem(stem: str) -> str | None:
    """``"C04"`` for ``"c04_hard_threshold"``; ``None`` for a name that is not a claim's."""
    m = NOTEBOOK_STEM.match(stem)
    return f"C{m.group(1)}" if m else None


def record_path(directory: str | os.PathLike, claim: str) -> Path:
    return Path(directory) / f"{check_claim(claim)}.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically: readers see the old file or the new one."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: object) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


class RunInProgress(RuntimeError):
    """Another run holds the results folder's lock and the caller asked not to wait."""


@contextlib.contextmanager
def run_lock(directory: str | os.PathLike, *, wait: bool = True,
             what: str = "a run") -> Iterator[None]:
    """Hold ``<directory>/.lock`` while the block runs, so two runs of one profile (two
    terminals, or a run while the book builds) never write the same folder at once.

    A second caller waits and says so on stderr (``wait=True``), or raises
    :class:`RunInProgress` naming the holder (``wait=False``). The lock is an advisory
    ``flock``: the operating system releases it when its holder dies, so a killed run never
    leaves the folder locked.
    """
    import fcntl

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fh = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            if not wait:
                raise RunInProgress(f"{directory} is in use by {holder}; wait for it to "
                                    "finish or stop it") from None
            print(f"sparsestudy: {directory} is in use by {holder}; waiting for it to finish",
                  file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        fh.write(f"{what} (pid {os.getpid()}, started {now})\n")
        fh.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fh.seek(0)
            fh.truncate()
        fh.close()  # closing releases the flock


__all__ = [
    "CLAIM_ID", "NOTEBOOK_STEM", "NOTEBOOK_GLOB", "RECORD_GLOB", "STATE_FILE", "project_root",
    "results_dir", "chosen_results_dir", "notebooks_dir", "published_dir", "claim_of_stem", "record_path",
    "atomic_write_text", "atomic_write_bytes", "write_json", "run_lock", "RunInProgress",
    "check_profile", "check_claim",
]
