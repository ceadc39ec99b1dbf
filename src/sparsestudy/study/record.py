"""The claims record: each notebook declares its sub-claims, the record computes the verdict.

A notebook measures, applies the rule written in ``CLAIMS.md`` and declares the outcome::

    rec = ClaimRecord("C01", "L1 sets coefficients exactly to zero; L2 only shrinks them",
                      profile=profile, seeds=seeds, parameters=params, output_dir=output_dir,
                      expected=("a", "b", "c", "d"))
    rec.subclaim("a", rule="L1 reduction == delta and L2 reduction <= 2 eps delta",
                 holds=all_ok, values={"eps": [...], "l1_drop": [...]})
    ...
    rec.save()          # writes <output_dir>/C01.json atomically

The verdict is never typed: it is ``supported`` when every sub-claim holds, ``not supported``
when none does and ``mixed`` otherwise.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

SUPPORTED = "supported"
MIXED = "mixed"
NOT_SUPPORTED = "not supported"
VERDICTS = (SUPPORTED, MIXED, NOT_SUPPORTED)

_CLAIM_ID = re.compile(r"^C\d{2}$")
_SUB_ID = re.compile(r"^[a-z]$")


def verdict_from(holds: Iterable[bool]) -> str:
    """``supported`` if all hold, ``not supported`` if none does, ``mixed`` otherwise."""
    holds = [bool(h) for h in holds]
    if not holds:
        raise ValueError("a verdict needs at least one sub-claim")
    if all(holds):
        return SUPPORTED
    if not any(holds):
        return NOT_SUPPORTED
    return MIXED


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding ``_config.yml`` and
    ``pyproject.toml``; the current directory if there is none."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_config.yml").is_file() and (d / "pyproject.toml").is_file():
            return d
    return here


def default_output_dir(profile: str) -> Path:
    """``$SPARSESTUDY_RESULTS/<profile>`` if that variable is set (the test suite sets it so
    that notebook tests never touch real results), else ``results/<profile>`` at the project
    root."""
    env = os.environ.get("SPARSESTUDY_RESULTS")
    base = Path(env) if env else project_root() / "results"
    return base / profile


def to_jsonable(value: Any) -> Any:
    """Convert NumPy / torch scalars and arrays (recursively) into plain JSON values.

    Non-finite floats become the strings ``"nan"``, ``"inf"`` and ``"-inf"`` so that the file
    stays strict JSON.
    """
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store a value of type {type(value).__name__} in a claim record")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("sparsestudy", "numpy", "scipy", "torch", "sklearn", "matplotlib"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            continue
    return out


def git_info(cwd: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """Commit hash and dirty flag of the repository around ``cwd``, or ``None``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``: readers see the
    old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class ClaimRecord:
    """Sub-claims of one claim, their measured values, and the verdict computed from them.

    Parameters
    ----------
    claim : str
        Claim id as in ``CLAIMS.md``, e.g. ``"C01"``.
    title : str
        The claim's statement.
    profile : str
        ``"quick"`` or ``"full"`` (any name is accepted; it selects the default output folder).
    seeds : list of int
        Seeds the measurements ran over.
    parameters : dict, optional
        The notebook's parameters, stored for reproduction.
    output_dir : path, optional
        Where ``save`` writes ``<claim>.json``; default ``results/<profile>/`` at the project root.
    expected : iterable of str, optional
        The sub-claim ids the register defines; ``save`` refuses a record missing any of them.
    """

    def __init__(
        self,
        claim: str,
        title: str,
        *,
        profile: str,
        seeds: Iterable[int],
        parameters: Mapping[str, Any] | None = None,
        output_dir: str | os.PathLike | None = None,
        expected: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(claim, str) or not _CLAIM_ID.match(claim):
            raise ValueError(f"claim must look like 'C01', got {claim!r}")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("title must be a non-empty string")
        if not isinstance(profile, str) or not profile:
            raise ValueError("profile must be a non-empty string")
        seeds = list(seeds)
        if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
        self.claim = claim
        self.title = title
        self.profile = profile
        self.seeds = [int(s) for s in seeds]
        self.parameters = dict(parameters or {})
        self.output_dir = Path(output_dir) if output_dir else default_output_dir(profile)
        self.expected = tuple(expected) if expected is not None else None
        self.subclaims: dict[str, dict[str, Any]] = {}
        self.highlights: dict[str, Any] = {}
        self._t0 = time.perf_counter()

    def subclaim(self, key: str, *, rule: str, holds: bool,
                 values: Mapping[str, Any] | None = None) -> bool:
        """Declare sub-claim ``key``: the rule applied, whether it held, the numbers behind it.

        Returns ``holds`` so a notebook can write ``ok = rec.subclaim(...)``.
        """
        if not isinstance(key, str) or not _SUB_ID.match(key):
            raise ValueError(f"key must be one lower-case letter, got {key!r}")
        if self.expected is not None and key not in self.expected:
            raise ValueError(f"sub-claim {key!r} is not one of {self.expected}")
        if not isinstance(holds, (bool, np.bool_)):
            raise TypeError(f"holds must be a bool, got {type(holds).__name__}")
        if not isinstance(rule, str) or not rule.strip():
            raise ValueError("rule must be a non-empty string")
        self.subclaims[key] = {
            "holds": bool(holds),
            "rule": rule,
            "values": to_jsonable(dict(values or {})),
        }
        return bool(holds)

    def highlight(self, name: str, value: Any) -> Any:
        """Name a key number for the scoreboard (e.g. ``"lasso zeros, diabetes"``); returns it."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        self.highlights[name] = to_jsonable(value)
        return value

    @property
    def verdict(self) -> str:
        return verdict_from(s["holds"] for s in self.subclaims.values())

    def missing(self) -> list[str]:
        if self.expected is None:
            return []
        return [k for k in self.expected if k not in self.subclaims]

    def to_dict(self) -> dict[str, Any]:
        if not self.subclaims:
            raise ValueError(f"{self.claim}: no sub-claim was declared")
        missing = self.missing()
        if missing:
            raise ValueError(f"{self.claim}: sub-claims {missing} were not declared")
        return {
            "claim": self.claim,
            "title": self.title,
            "verdict": self.verdict,
            "subclaims": {k: self.subclaims[k] for k in sorted(self.subclaims)},
            "highlights": dict(self.highlights),
            "profile": self.profile,
            "parameters": to_jsonable(self.parameters),
            "seeds": self.seeds,
            "versions": versions(),
            "git": git_info(project_root()),
            "elapsed_s": round(time.perf_counter() - self._t0, 3),
        }

    def save(self) -> Path:
        """Write ``<output_dir>/<claim>.json`` atomically and return its path."""
        record = self.to_dict()
        return atomic_write_text(
            self.output_dir / f"{self.claim}.json", json.dumps(record, indent=2) + "\n"
        )

    def summary(self) -> str:
        lines = [f"{self.claim}: {self.verdict}"]
        for k in sorted(self.subclaims):
            s = self.subclaims[k]
            lines.append(f"  {k}. {'holds' if s['holds'] else 'fails'} - {s['rule']}")
        return "\n".join(lines)


def glue(name: str, value: Any, display: bool = False) -> None:
    """myst-nb's ``glue``, with NumPy and torch scalars turned into Python numbers first.

    Under NumPy 2 a NumPy scalar's text form is ``np.float64(0.5)``, which myst-nb cannot format:
    ``{glue:text}`name:.2f``` then fails the book build. Claim notebooks glue through this.
    """
    from myst_nb import glue as _glue

    try:
        import torch

        if isinstance(value, torch.Tensor) and value.ndim == 0:
            value = value.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, value, display=display)


def load_records(output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """All claim records in ``output_dir``, sorted by claim id (unreadable files raise)."""
    out = []
    for p in sorted(Path(output_dir).glob("C[0-9][0-9].json")):
        with open(p, encoding="utf-8") as fh:
            rec = json.load(fh)
        if rec.get("verdict") not in VERDICTS:
            raise ValueError(f"{p}: verdict {rec.get('verdict')!r} is not one of {VERDICTS}")
        out.append(rec)
    return out


__all__ = [
    "ClaimRecord", "verdict_from", "glue", "load_records", "atomic_write_text", "project_root",
    "SUPPORTED", "MIXED", "NOT_SUPPORTED",
]
