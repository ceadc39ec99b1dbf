"""The fingerprint of a run: what a record's numbers depend on, defined once.

A fingerprint has four parts:

``code``
    SHA-256 of the notebook's code cells, in order (their sources only: a prose fix in a
    Markdown cell, or a change of cell metadata, does not make a record stale). The cell
    tagged :data:`SETUP_TAG` is left out: it installs the library on Colab and does nothing
    anywhere else (:mod:`sparsestudy.study.colab`), so it cannot change a number.
``parameters``
    SHA-256 of the resolved parameters, except those that cannot change a number
    (:data:`NEUTRAL_PARAMETERS`: where the record is written, which cluster runs it).
``modules``
    ``{path: sha256}`` of every ``sparsestudy`` library module the kernel had loaded when the
    claim closed (paths relative to the package, e.g. ``unrolled/networks.py``). The study
    machinery (``sparsestudy.study``) is left out: rewording the scoreboard changes no verdict.
``device``
    The device kind the computation ran on: ``"cpu"`` or ``"cuda"``.

The kernel records ``modules`` and ``device`` (it alone knows what it loaded); the runner adds
``code`` and ``parameters`` after the run, so a record never carries the fingerprint of code it
did not run. :func:`changes` says what differs between a recorded fingerprint and the tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

#: parameters that never change a number
NEUTRAL_PARAMETERS = ("output_dir", "scheduler")
PARTS = ("code", "parameters", "modules", "device")
#: the tag of a notebook's environment set-up cell, which the code fingerprint leaves out
SETUP_TAG = "colab-setup"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_dir() -> Path:
    """The directory of the ``sparsestudy`` package this process imports."""
    return Path(__file__).resolve().parents[1]


def code_fingerprint(notebook: str | os.PathLike | Mapping[str, Any]) -> str:
    """SHA-256 of the sources of a notebook's code cells, in order, except the set-up cell
    (:data:`SETUP_TAG`); ``notebook``: a path, or the notebook's JSON already read, e.g. from
    ``git show``."""
    if isinstance(notebook, Mapping):
        nb = notebook
    else:
        with open(notebook, encoding="utf-8") as fh:
            nb = json.load(fh)
    sources = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or \
                SETUP_TAG in (cell.get("metadata") or {}).get("tags", []):
            continue
        src = cell.get("source", "")
        sources.append("".join(src) if isinstance(src, list) else src)
    return sha256(json.dumps(sources).encode())


def parameters_fingerprint(parameters: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in parameters.items() if k not in NEUTRAL_PARAMETERS}
    return sha256(json.dumps(kept, sort_keys=True, default=repr).encode())


def _module_file(name: str, module: Any) -> Path | None:
    path = getattr(module, "__file__", None)
    return Path(path).resolve() if path else None


def loaded_modules(modules: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{path relative to the package: sha256}`` of the loaded library modules (not the study
    machinery). ``modules`` defaults to :data:`sys.modules`."""
    modules = sys.modules if modules is None else modules
    base = library_dir()
    out = {}
    for name, module in list(modules.items()):
        if not (name == "sparsestudy" or name.startswith("sparsestudy.")):
            continue
        if name == "sparsestudy.study" or name.startswith("sparsestudy.study."):
            continue
        path = _module_file(name, module)
        if path is None or path.suffix != ".py":
            continue
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        out[rel] = sha256(path.read_bytes())
    return dict(sorted(out.items()))


def current_modules(paths: Mapping[str, str] | list[str],
                    directory: str | os.PathLike | None = None) -> dict[str, str | None]:
    """The same paths hashed from the package on disk now (``None`` where a file is gone)."""
    base = Path(directory) if directory is not None else library_dir()
    out: dict[str, str | None] = {}
    for rel in paths:
        p = base / rel
        out[rel] = sha256(p.read_bytes()) if p.is_file() else None
    return out


def device_kind(device: Any = None) -> str:
    """``"cuda"`` when ``device`` names a CUDA device, or is ``"auto"`` and one is present;
    else ``"cpu"``."""
    if device is None or device == "cpu":
        return "cpu"
    text = str(device)
    if text == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if text.startswith("cuda") else "cpu"


def digest(fingerprint: Mapping[str, Any]) -> str:
    """One hash of the four parts (for display and quick comparison)."""
    return sha256(json.dumps({k: fingerprint.get(k) for k in PARTS}, sort_keys=True).encode())


def changes(recorded: Mapping[str, Any] | None, *, code: str, parameters: str, device: str,
            directory: str | os.PathLike | None = None) -> list[str]:
    """What changed between a recorded fingerprint and the tree now, in words (empty: nothing).

    ``code``, ``parameters`` and ``device`` are the current values of those parts; the modules
    the record lists are hashed from the package on disk.
    """
    if not recorded or any(recorded.get(k) is None for k in PARTS):
        return ["the record has no complete fingerprint (it was not written by the runner)"]
    out = []
    if recorded["code"] != code:
        out.append("notebook code changed")
    if recorded["parameters"] != parameters:
        out.append("parameters changed")
    now = current_modules(list(recorded["modules"]), directory)
    changed = [rel for rel, h in recorded["modules"].items() if now.get(rel) != h]
    if changed:
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4
                                          else "")
        out.append(f"library changed ({shown})")
    if recorded["device"] != device:
        out.append(f"device kind changed ({recorded['device']} to {device})")
    return out


__all__ = [
    "SETUP_TAG", "code_fingerprint", "parameters_fingerprint", "loaded_modules", "current_modules",
    "device_kind", "digest", "changes", "NEUTRAL_PARAMETERS", "PARTS", "library_dir",
]
