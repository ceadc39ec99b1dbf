r"""Unfolded (unrolled) networks: the LISTA family and the L0 family, built from a dictionary.

* :mod:`~sparsestudy.unrolled.networks`: :class:`UnfoldedISTA`, :class:`LISTA`,
  :class:`LISTACP`, :class:`LISTACPSS`, :class:`ALISTA`, :func:`relu_layer` and helpers;
* :mod:`~sparsestudy.unrolled.l0`: :class:`HardThresholdEncoder`, :class:`DeepL0Encoder`,
  :class:`TopM`, :func:`threshold_surrogate`;
* :mod:`~sparsestudy.unrolled.training`: :func:`train_unrolled` (the recipe: a fixed layer-wise
  warm start, then end-to-end fine-tuning to a plateau), :func:`train_layerwise`;
* :mod:`~sparsestudy.unrolled.samplers`: :func:`array_sampler` (fresh synthetic batches come
  from :func:`sparsestudy.data.sparse_code_stream`);
* :mod:`~sparsestudy.unrolled.persistence`: :func:`save_model`, :func:`load_model`,
  :class:`NetworkCache` (trained networks by configuration and code fingerprint).

Every layer is a step of :mod:`sparsestudy.steps`, the steps the solvers iterate.
"""

from ..steps import support_selection_threshold
from .l0 import DeepL0Encoder, HardThresholdEncoder, TopM, threshold_surrogate
from .networks import (ALISTA, LISTA, LISTACP, LISTACPSS, LinearISTA, UnfoldedISTA,
                       analytic_weight, ista_numpy, nmse_db_per_sample, nmse_per_layer,
                       relu_layer, soft_threshold_ss)
from .persistence import NetworkCache, code_fingerprint, load_model, save_model
from .samplers import array_sampler
from .training import resolve_device, stage_dict, train_layerwise, train_unrolled

__all__ = [
    "DeepL0Encoder", "HardThresholdEncoder", "TopM", "threshold_surrogate",
    "UnfoldedISTA", "LISTA", "LISTACP", "LISTACPSS", "ALISTA", "relu_layer",
    "support_selection_threshold", "soft_threshold_ss", "analytic_weight",
    "array_sampler", "nmse_per_layer", "nmse_db_per_sample", "LinearISTA", "ista_numpy",
    "train_layerwise", "train_unrolled", "resolve_device", "stage_dict",
    "save_model", "load_model", "NetworkCache", "code_fingerprint",
]
