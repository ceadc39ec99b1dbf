"""Saving, loading and caching trained networks: state dicts of tensors only, loaded with
``torch.load(weights_only=True)`` (no pickled code is ever executed).

:class:`NetworkCache` keeps trained networks under a folder, one file per configuration. A
file's name is a hash of the configuration (the problem, the recipe, the seed: whatever the
caller passes) and of :func:`code_fingerprint`, the code of the modules that define the
networks and their trainer, so an edit to that code retrains while an edit elsewhere in the
library (or to a docstring or comment) keeps the cached networks. Files are written atomically (a temporary file, then
``os.replace``), so an interrupted run leaves either a complete file or none, and the next run
resumes from the networks already trained.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["save_model", "load_model", "code_fingerprint", "NetworkCache"]


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: nn.Module, path: Any) -> None:
    """``torch.save(model.state_dict(), path)``: tensors only, loadable with
    ``weights_only=True``; written atomically."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    _atomic_write(Path(path), buf.getvalue())


def load_model(model: nn.Module, path: Any, map_location: Any = None) -> nn.Module:
    """Load a state dict saved by :func:`save_model` into ``model`` (built with the same
    dictionary shape and depth), with ``torch.load(weights_only=True)``; returns ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    return model


def _defining_sources() -> list[tuple[str, str]]:
    """(name, source) of what defines a trained network: the networks, the steps they call,
    both trainers, the validation metric and the synthetic sampler."""
    from .. import steps, training
    from ..data.synthetic import sparse_code_stream
    from ..metrics import nmse_db
    from . import networks, samplers
    from . import training as unrolled_training

    out = [(m.__name__, inspect.getsource(m))
           for m in (steps, training, networks, samplers, unrolled_training)]
    out += [(f"{f.__module__}.{f.__name__}", inspect.getsource(f))
            for f in (nmse_db, sparse_code_stream)]
    return out


def _code_only(source: str) -> str:
    """The syntax tree of ``source`` without docstrings (comments are not in it): editing the
    documentation of a module keeps its networks."""
    import ast
    import textwrap

    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_fingerprint() -> str:
    """SHA-256 of the code (syntax trees without docstrings or comments) of the modules that
    define the networks and their training (:mod:`sparsestudy.steps`,
    :mod:`sparsestudy.training`, :mod:`.networks`, :mod:`.samplers`, :mod:`.training`) and of
    the functions they train with (:func:`sparsestudy.metrics.nmse_db`,
    :func:`sparsestudy.data.sparse_code_stream`)."""
    h = hashlib.sha256()
    for name, src in _defining_sources():
        h.update(name.encode() + b"\0" + _code_only(src).encode() + b"\0")
    return h.hexdigest()


def _canonical(config: Any) -> str:
    try:
        return json.dumps(config, sort_keys=True, allow_nan=True)
    except TypeError:
        raise TypeError("config must hold JSON values only (numbers, strings, lists, dicts, "
                        "None)") from None


class NetworkCache:
    """Trained networks kept in ``directory``, keyed by configuration and code.

    Parameters
    ----------
    directory : path
        Created when the first network is saved.
    fingerprint : str, optional
        The code's fingerprint (default :func:`code_fingerprint`; tests pass their own).

    Each entry is one ``.pt`` file holding ``{"state": state_dict, "report": dict, "config":
    str}`` (tensors and plain values), read back with ``torch.load(weights_only=True)``.
    """

    def __init__(self, directory: Any, fingerprint: str | None = None) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be a path, got {type(directory).__name__}")
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise TypeError("fingerprint must be a str or None")
        self.directory = Path(directory)
        self.fingerprint = code_fingerprint() if fingerprint is None else fingerprint

    def key(self, config: Any) -> str:
        """The entry's name for ``config`` (a JSON-able description) under this code."""
        text = _canonical({"config": config, "code": self.fingerprint})
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def path(self, config: Any) -> Path:
        return self.directory / f"{self.key(config)}.pt"

    def load(self, model: nn.Module, config: Any) -> dict[str, Any] | None:
        """Load the cached network of ``config`` into ``model`` and return its report, or
        ``None`` (and ``model`` untouched) when there is none."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        path = self.path(config)
        if not path.exists():
            return None
        device = next((b.device for b in model.state_dict().values()), torch.device("cpu"))
        entry = torch.load(path, map_location=device, weights_only=True)
        if entry.get("config") != _canonical(config):      # a hash collision, in principle
            return None
        model.load_state_dict(entry["state"])
        return entry["report"]

    def save(self, model: nn.Module, config: Any, report: dict[str, Any]) -> Path:
        """Save ``model`` (its state dict, on the CPU) and ``report`` (plain values) for
        ``config``, atomically; returns the file's path."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"state": state, "report": report, "config": _canonical(config)}, buf)
        path = self.path(config)
        _atomic_write(path, buf.getvalue())
        return path

    def get_or_train(self, model: nn.Module, config: Any,
                     train: Callable[[nn.Module], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """The cached network of ``config`` loaded into ``model``, or ``train(model)`` (which
        trains ``model`` in place and returns a report of plain values), saved. Returns
        ``(report, hit)``."""
        report = self.load(model, config)
        if report is not None:
            return report, True
        if not callable(train):
            raise TypeError("train must be callable: train(model) -> report")
        report = train(model)
        self.save(model, config, report)
        return report, False
