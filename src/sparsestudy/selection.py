r"""Feature selection by an L0 constraint (claim C05): the networks and the choice of M.

* :func:`topm_classifier`: ``Linear(n_features, width) -> TopM(M) -> Linear(width, n_classes)``
  whose initial weights depend on ``seed`` only, never on ``M``: networks that differ in ``M``
  start from the same parameters, so a comparison across ``M`` is not confounded with the
  initialisation. ``M = width`` keeps every unit: a (dense) linear classifier.
* :func:`mlp_classifier`: the non-linear dense baseline, the same two layers with a ReLU
  between them, initialised exactly as :func:`topm_classifier` with the same seed.
* :func:`select_on_validation`: the ``M`` (or any key) with the best validation score.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterable, Mapping

import torch
from torch import nn

from ._arrays import check_int
from .unrolled import TopM

__all__ = ["topm_classifier", "mlp_classifier", "select_on_validation"]


def _layers(n_features: int, width: int, n_classes: int, seed: int,
            dtype: torch.dtype) -> tuple[nn.Linear, nn.Linear]:
    n_features = check_int(n_features, "n_features", min_value=1)
    width = check_int(width, "width", min_value=1)
    n_classes = check_int(n_classes, "n_classes", min_value=2)
    seed = check_int(seed, "seed", min_value=0)
    with torch.random.fork_rng(devices=[]):      # the global generator is left as it was
        torch.manual_seed(seed)
        first = nn.Linear(n_features, width, dtype=dtype)
        last = nn.Linear(width, n_classes, dtype=dtype)
    return first, last


def topm_classifier(n_features: int, width: int, n_classes: int, M: int, *, seed: int,
                    dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """``Linear -> TopM(M) -> Linear``; the initial parameters depend on ``seed`` only.

    Parameters
    ----------
    n_features, width, n_classes : int
    M : int, 0 <= M <= width
        Units kept per sample (largest magnitudes) after the first layer.
    seed : int >= 0
        Seeds the initialisation (PyTorch's default ``nn.Linear`` initialisation, drawn from a
        generator seeded here; the global generator is not changed).
    dtype : torch.dtype
    """
    M = check_int(M, "M", min_value=0, max_value=check_int(width, "width", min_value=1))
    first, last = _layers(n_features, width, n_classes, seed, dtype)
    return nn.Sequential(first, TopM(M), last)


def mlp_classifier(n_features: int, width: int, n_classes: int, *, seed: int,
                   dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """``Linear -> ReLU -> Linear``, initialised as :func:`topm_classifier` with ``seed``."""
    first, last = _layers(n_features, width, n_classes, seed, dtype)
    return nn.Sequential(first, nn.ReLU(), last)


def select_on_validation(scores: Mapping[Hashable, float],
                         candidates: Iterable[Hashable] | None = None) -> Any:
    """The candidate with the highest validation score; ties go to the smallest candidate
    (the sparsest ``M``, when the keys are values of ``M``).

    Parameters
    ----------
    scores : mapping key -> validation score (higher is better)
    candidates : iterable of keys, optional
        Default: every key of ``scores``.
    """
    keys = list(scores) if candidates is None else list(candidates)
    if not keys:
        raise ValueError("there must be at least one candidate")
    missing = [k for k in keys if k not in scores]
    if missing:
        raise ValueError(f"no validation score for {missing}")
    best = max(float(scores[k]) for k in keys)
    return min(k for k in keys if float(scores[k]) == best)
