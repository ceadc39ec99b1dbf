"""Saving and loading trained networks: state dicts of tensors only, loaded with
``torch.load(weights_only=True)`` (no pickled code is ever executed)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["save_model", "load_model"]


def save_model(model: nn.Module, path: Any) -> None:
    """``torch.save(model.state_dict(), path)``: tensors only, loadable with
    ``weights_only=True``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    torch.save(model.state_dict(), path)


def load_model(model: nn.Module, path: Any, map_location: Any = None) -> nn.Module:
    """Load a state dict saved by :func:`save_model` into ``model`` (built with the same
    dictionary shape and depth), with ``torch.load(weights_only=True)``; returns ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    return model
