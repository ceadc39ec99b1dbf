"""Samplers of training batches ``sampler(generator) -> (X, Z)`` for the unfolded networks.

Fresh synthetic batches come from :func:`sparsestudy.data.sparse_code_stream` (the streaming
form of the one synthetic generator); :func:`array_sampler` draws minibatches from fixed arrays.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .._arrays import as_tensor, check_int

__all__ = ["array_sampler", "Sampler"]

Sampler = Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def array_sampler(X: Any, Z: Any, batch_size: int) -> Sampler:
    """A sampler of minibatches drawn with replacement from fixed arrays ``X``, ``Z``.

    Parameters
    ----------
    X : array (n, n_features)
    Z : array (n, n_atoms)
    batch_size : int >= 1

    Returns
    -------
    callable
        ``sampler(generator) -> (X_batch, Z_batch)``, indices drawn with the generator, on its
        device.
    """
    Xt = as_tensor(X, "X", ndim=2)
    Zt = as_tensor(Z, "Z", ndim=2, dtype=Xt.dtype)
    if Xt.shape[0] != Zt.shape[0]:
        raise ValueError(f"X has {Xt.shape[0]} samples but Z has {Zt.shape[0]}")
    batch_size = check_int(batch_size, "batch_size", min_value=1)

    def sample(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(Xt.shape[0], (batch_size,), generator=gen, device=gen.device)
        idx = idx.to(Xt.device)
        return Xt[idx].to(gen.device), Zt[idx].to(gen.device)

    return sample
