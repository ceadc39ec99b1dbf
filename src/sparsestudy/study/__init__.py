"""The study machinery, apart from the science library: claim records, the notebook helpers,
the runner, the book and the command line. No library module imports it.

:mod:`~sparsestudy.study.layout`
    where things live and how they are named (root, results folders, records, locks).
:mod:`~sparsestudy.study.record`
    the claim record, its verdict and its file format.
:mod:`~sparsestudy.study.fingerprint`
    what a record's numbers depend on (code cells, parameters, loaded modules, device).
:mod:`~sparsestudy.study.notebook`
    :func:`open_claim` and :func:`close_claim`, used by every claim notebook.
:mod:`~sparsestudy.study.runner`, :mod:`~sparsestudy.study.book`, :mod:`~sparsestudy.study.cli`
    executing notebooks (papermill), building the book (Jupyter Book), the ``sparsestudy``
    command.
"""

from .notebook import close_claim, glue, glue_markdown, open_claim
from .record import (INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, ClaimRecord, RecordError,
                     load_record, load_records, validate_record)

__all__ = ["open_claim", "close_claim", "glue", "glue_markdown", "ClaimRecord", "RecordError", "load_record",
           "load_records", "validate_record", "SUPPORTED", "MIXED", "NOT_SUPPORTED",
           "INCONCLUSIVE"]
