"""The claim record: the sub-claims a notebook decided, and the verdict computed from them.

A notebook measures, applies the rule written in the claims register, and declares each
sub-claim; the record computes its state and the claim's verdict (never typed)::

    rec = ClaimRecord("C04", "An L0 penalty gives hard thresholding ...", profile=profile,
                      seeds=seeds, parameters=params, output_dir=output_dir,
                      expected=("a", "b", "c"))
    rec.subclaim("b", rule="IHT needs fewer nonzeros at every matched level",
                 passed=b_passed, values={...},
                 adequacy="every run converged; levels above the noise floor",
                 adequate=all_converged)
    rec.save()          # <output_dir>/C04.json, atomically

Notebooks open and close their record with :func:`sparsestudy.study.notebook.open_claim` and
:func:`~sparsestudy.study.notebook.close_claim`, which do the plumbing around this class.

**The state of a sub-claim** (register amendments 1, 5 and 6):

* ``passed`` is the rule's outcome on the measurements.
* ``adequate`` says whether the registered adequacy condition was met (``None``: the register
  names none). A rule that fails while its experiment was not adequate is **inconclusive**
  (``holds: null``), never "does not hold"; a rule that passes holds whatever the adequacy,
  except for an *equivalence* rule (one that asserts no difference within a margin), which is
  inconclusive whenever it is not adequate (amendment 6).
* A *consistency check* (one that cannot fail: it holds by construction or by a theorem) is
  computed and shown but does not count toward the verdict (amendment 5).

**The verdict** over the sub-claims that count: *supported* when every one holds; *inconclusive*
when none fails and at least one is inconclusive; *not supported* when at least one fails and
none holds; *mixed* when some hold and some fail.

**The record format** (``"format": 2``; :func:`validate_record` checks it, field by field)::

    {
      "format": 2,
      "claim": "C04", "title": str, "profile": "quick" | "full" | ...,
      "verdict": "supported" | "mixed" | "not supported" | "inconclusive",
      "why": str,                        # one computed sentence on why
      "subclaims": {"a": {
          "rule": str, "passed": bool, "holds": true | false | null,
          "consistency": bool, "equivalence": bool,
          "adequacy": str | null, "adequate": bool | null,
          "reason": str | null,          # why it is inconclusive, or a consistency check
          "values": {...}}, ...},
      "highlights": {name: value},
      "highlight_units": {name: unit},   # optional: "%" (a fraction), "dB", "points", ...
      "parameters": {...}, "seeds": [int, ...], "elapsed_s": float,
      "provenance": {"commit": str | null, "dirty": bool | null, "date": ISO 8601 (UTC),
                     "processor": str, "device": "cpu" | "cuda",
                     "versions": {"python": str, "torch": str, "numpy": str, ...}},
      "fingerprint": {"code": str | null, "parameters": str | null,
                      "modules": {path: sha256}, "device": "cpu" | "cuda"}
    }

``fingerprint.modules`` and ``fingerprint.device`` are written by the kernel when the claim
closes; the runner fills in ``code`` and ``parameters`` after a successful run
(:mod:`sparsestudy.study.fingerprint`). Non-finite floats are stored as the strings ``"nan"``,
``"inf"`` and ``"-inf"``, so the file is strict JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import fingerprint as _fp
from .layout import (CLAIM_ID, RECORD_GLOB, check_claim, project_root, record_path,
                     results_dir, write_json)

FORMAT = 2
SUPPORTED = "supported"
MIXED = "mixed"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SUPPORTED, MIXED, NOT_SUPPORTED, INCONCLUSIVE)

_SUB_ID = "abcdefghijklmnopqrstuvwxyz"


class RecordError(ValueError):
    """A claim record (or the runner's state) cannot be read: the message names the file and
    what to do about it."""


# ------------------------------------------------------------------------------- outcomes
def subclaim_state(passed: bool, adequate: bool | None, *, consistency: bool = False,
                   equivalence: bool = False) -> bool | None:
    """``holds`` of a sub-claim: ``True``, ``False`` or ``None`` (inconclusive); see the module
    docstring."""
    if consistency or adequate is None or adequate:
        return bool(passed)
    if equivalence:
        return None
    return True if passed else None


def verdict_from(holds: Iterable[bool | None]) -> str:
    """The claim's verdict from the ``holds`` of the sub-claims that count (amendment 1)."""
    holds = [None if h is None else bool(h) for h in holds]
    if not holds:
        raise ValueError("a verdict needs at least one sub-claim that counts (not only "
                         "consistency checks)")
    n_true = sum(h is True for h in holds)
    n_false = sum(h is False for h in holds)
    if n_true == len(holds):
        return SUPPORTED
    if n_false == 0:
        return INCONCLUSIVE
    if n_true == 0:
        return NOT_SUPPORTED
    return MIXED


def outcome_words(sub: Mapping[str, Any]) -> str:
    """The house style of a sub-claim's outcome: ``holds``, ``does not hold``, ``is
    inconclusive``; consistency checks say so."""
    h = sub["holds"]
    words = "holds" if h is True else "does not hold" if h is False else "is inconclusive"
    return f"{words} (a consistency check)" if sub.get("consistency") else words


def _join(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]


def why_sentence(subclaims: Mapping[str, Mapping[str, Any]]) -> str:
    """One computed sentence on why the verdict is what it is."""
    counted = {k: s for k, s in sorted(subclaims.items()) if not s.get("consistency")}
    groups = {"hold": [k for k, s in counted.items() if s["holds"] is True],
              "do not hold": [k for k, s in counted.items() if s["holds"] is False],
              "are inconclusive": [k for k, s in counted.items() if s["holds"] is None]}
    singular = {"hold": "holds", "do not hold": "does not hold",
                "are inconclusive": "is inconclusive"}
    parts = []
    for phrase, keys in groups.items():
        if keys:
            parts.append(f"{_join(keys)} {phrase if len(keys) > 1 else singular[phrase]}")
    text = "Of the sub-claims that count, " + "; ".join(parts) + "."
    by_reason: dict[str, list[str]] = {}
    for k, s in counted.items():
        if s["holds"] is None and s.get("reason"):
            by_reason.setdefault(s["reason"], []).append(k)
    reasons = [f"{_join(keys)}: {reason}" for reason, keys in by_reason.items()]
    if reasons:
        text += " Inconclusive because " + "; ".join(reasons) + "."
    checks = [k for k, s in sorted(subclaims.items()) if s.get("consistency")]
    if checks:
        what = "are consistency checks" if len(checks) > 1 else "is a consistency check"
        text += f" {_join(checks)} {what}, shown but not counted."
    return text


# ----------------------------------------------------------------------------- JSON values
def to_jsonable(value: Any) -> Any:
    """NumPy / torch scalars and arrays (recursively) as plain JSON values; non-finite floats
    become ``"nan"``, ``"inf"``, ``"-inf"``."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
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


# ----------------------------------------------------------------------------- provenance
def _processor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("sparsestudy", "numpy", "torch", "scipy", "sklearn"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            continue
    return out


def git_info(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": hash or None, "dirty": bool or None}`` of the repository around ``cwd``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=cwd, capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def provenance(device: str = "cpu", root: str | os.PathLike | None = None) -> dict[str, Any]:
    return {
        **git_info(root if root is not None else project_root()),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "processor": _processor(),
        "device": device,
        "versions": _versions(),
    }


# --------------------------------------------------------------------------------- record
class ClaimRecord:
    """Sub-claims of one claim, their measured values, and the verdict computed from them.

    Parameters
    ----------
    claim : str
        Claim id as in the register, e.g. ``"C01"``.
    title : str
        The claim's statement.
    profile : str
        ``"quick"`` or ``"full"`` (any plain name; it selects the default output folder).
    seeds : list of int
        Seeds the measurements ran over.
    parameters : dict, optional
        The notebook's parameters, stored for reproduction.
    output_dir : path, optional
        Where :meth:`save` writes ``<claim>.json``; default
        :func:`sparsestudy.study.layout.results_dir` of the profile.
    expected : iterable of str, optional
        The sub-claim ids the register defines; :meth:`save` refuses a record missing any.
    device : str
        The device kind the computation runs on, ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, claim: str, title: str, *, profile: str, seeds: Iterable[int],
                 parameters: Mapping[str, Any] | None = None,
                 output_dir: str | os.PathLike | None = None,
                 expected: Iterable[str] | None = None, device: str = "cpu") -> None:
        check_claim(claim)
        if not isinstance(title, str) or not title.strip():
            raise ValueError("title must be a non-empty string")
        if not isinstance(profile, str) or not profile:
            raise ValueError("profile must be a non-empty string")
        seeds = list(seeds) if isinstance(seeds, (list, tuple, range, np.ndarray)) else seeds
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of integers, got {seeds!r}")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda' (the device kind), got {device!r}")
        self.claim = claim
        self.title = title
        self.profile = profile
        self.seeds = [int(s) for s in seeds]
        self.parameters = dict(parameters or {})
        self.output_dir = Path(output_dir) if output_dir else results_dir(profile)
        self.expected = tuple(expected) if expected is not None else None
        self.device = device
        self.subclaims: dict[str, dict[str, Any]] = {}
        self.highlights: dict[str, Any] = {}
        self.highlight_units: dict[str, str] = {}
        self._t0 = time.perf_counter()

    # ------------------------------------------------------------------ declaring
    def subclaim(self, key: str, *, rule: str, passed: bool,
                 values: Mapping[str, Any] | None = None, adequacy: str | None = None,
                 adequate: bool | None = None, consistency: bool = False,
                 equivalence: bool = False, reason: str | None = None) -> bool | None:
        """Declare sub-claim ``key`` and return its ``holds`` (``True``, ``False``, ``None``).

        Parameters
        ----------
        rule : str
            The registered rule, as applied.
        passed : bool
            Whether the rule was met by the measurements.
        values : dict
            The numbers behind it.
        adequacy : str, optional
            The registered adequacy condition, in words; give it with ``adequate``.
        adequate : bool, optional
            Whether that condition was met.
        consistency : bool
            A check that cannot fail: shown, not counted (amendment 5).
        equivalence : bool
            The rule asserts no difference within a margin: not adequate means inconclusive
            whichever way the rule went (amendment 6).
        reason : str, optional
            Why it is inconclusive, in words with numbers (default: from ``adequacy``).
        """
        if not isinstance(key, str) or len(key) != 1 or key not in _SUB_ID:
            raise ValueError(f"key must be one lower-case letter, got {key!r}")
        if self.expected is not None and key not in self.expected:
            raise ValueError(f"sub-claim {key!r} is not one of {self.expected}")
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(f"passed must be a bool, got {type(passed).__name__}")
        if not isinstance(rule, str) or not rule.strip():
            raise ValueError("rule must be a non-empty string")
        if adequate is not None and not isinstance(adequate, (bool, np.bool_)):
            raise TypeError(f"adequate must be a bool or None, got {type(adequate).__name__}")
        if (adequacy is None) != (adequate is None):
            raise ValueError("give adequacy (the condition) and adequate (whether it was met) "
                             "together")
        for name, flag in (("consistency", consistency), ("equivalence", equivalence)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        adequate = None if adequate is None else bool(adequate)
        holds = subclaim_state(bool(passed), adequate, consistency=consistency,
                               equivalence=equivalence)
        if holds is None and reason is None:
            reason = f"the adequacy condition was not met ({adequacy})"
        elif consistency and reason is None:
            reason = "it cannot fail (it holds by construction or by a theorem)"
        self.subclaims[key] = {
            "rule": rule, "passed": bool(passed), "holds": holds,
            "consistency": consistency, "equivalence": equivalence,
            "adequacy": adequacy, "adequate": adequate,
            "reason": reason if (holds is None or consistency) else None,
            "values": to_jsonable(dict(values or {})),
        }
        return holds

    def highlight(self, name: str, value: Any, *, unit: str | None = None) -> Any:
        """Name a key number for the scoreboard; returns ``value``.

        ``name`` is what a reader sees (words, not variable names or sub-claim labels).
        ``unit`` says how the chapter shows it: ``"%"`` for a fraction shown as a percentage
        (0.9901 shows as 99.01 %), or a unit written after the number (``"dB"``, ``"points"``).
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name must be a non-empty string")
        if unit is not None and (not isinstance(unit, str) or not unit.strip()):
            raise ValueError(f"unit must be a non-empty string or None, got {unit!r}")
        self.highlights[name] = to_jsonable(value)
        if unit is not None:
            self.highlight_units[name] = unit
        else:
            self.highlight_units.pop(name, None)
        return value

    # ------------------------------------------------------------------ reading
    @property
    def verdict(self) -> str:
        return verdict_from(s["holds"] for s in self.subclaims.values() if not s["consistency"])

    @property
    def why(self) -> str:
        return why_sentence(self.subclaims)

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
            "format": FORMAT,
            "claim": self.claim,
            "title": self.title,
            "profile": self.profile,
            "verdict": self.verdict,
            "why": self.why,
            "subclaims": {k: self.subclaims[k] for k in sorted(self.subclaims)},
            "highlights": dict(self.highlights),
            "highlight_units": dict(self.highlight_units),
            "parameters": to_jsonable(self.parameters),
            "seeds": self.seeds,
            "elapsed_s": round(time.perf_counter() - self._t0, 3),
            "provenance": provenance(self.device),
            "fingerprint": {"code": None, "parameters": None,
                            "modules": _fp.loaded_modules(), "device": self.device},
        }

    def save(self) -> Path:
        """Write ``<output_dir>/<claim>.json`` atomically and return its path."""
        record = self.to_dict()
        validate_record(record)
        return write_json(record_path(self.output_dir, self.claim), record)

    def summary(self) -> str:
        lines = [f"{self.claim}: {self.verdict}"]
        for k in sorted(self.subclaims):
            s = self.subclaims[k]
            lines.append(f"  {k}. {outcome_words(s)} - {s['rule']}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- validation
_TOP = {"format": int, "claim": str, "title": str, "profile": str, "verdict": str, "why": str,
        "subclaims": dict, "highlights": dict, "parameters": dict, "seeds": list,
        "elapsed_s": (int, float), "provenance": dict, "fingerprint": dict}
_SUB = {"rule": str, "passed": bool, "holds": (bool, type(None)), "consistency": bool,
        "equivalence": bool, "adequacy": (str, type(None)), "adequate": (bool, type(None)),
        "reason": (str, type(None)), "values": dict}
_PROV = {"commit": (str, type(None)), "dirty": (bool, type(None)), "date": str,
         "processor": str, "device": str, "versions": dict}
_FPRINT = {"code": (str, type(None)), "parameters": (str, type(None)), "modules": dict,
           "device": str}


def _check_fields(obj: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> None:
    for name, kind in spec.items():
        if name not in obj:
            raise ValueError(f"{where} has no field {name!r}")
        if not isinstance(obj[name], kind) or (kind is int and isinstance(obj[name], bool)):
            raise ValueError(f"{where}.{name} has the wrong type ({type(obj[name]).__name__})")


def validate_record(rec: Any) -> dict[str, Any]:
    """Check a record against the format of the module docstring; raise ``ValueError`` naming
    the first field that is wrong. Returns the record."""
    if not isinstance(rec, dict):
        raise ValueError(f"a record is a JSON object, got {type(rec).__name__}")
    if rec.get("format") != FORMAT:
        raise ValueError(f"record format {rec.get('format')!r} is not {FORMAT} (an older "
                         "sparsestudy wrote it)")
    _check_fields(rec, _TOP, "record")
    if not CLAIM_ID.match(rec["claim"]):
        raise ValueError(f"record.claim {rec['claim']!r} does not look like C01")
    if rec["verdict"] not in VERDICTS:
        raise ValueError(f"record.verdict {rec['verdict']!r} is not one of {VERDICTS}")
    if not rec["subclaims"]:
        raise ValueError("record.subclaims is empty")
    for key, sub in rec["subclaims"].items():
        if not isinstance(sub, dict):
            raise ValueError(f"record.subclaims.{key} is not an object")
        _check_fields(sub, _SUB, f"record.subclaims.{key}")
        if sub["holds"] != subclaim_state(sub["passed"], sub["adequate"],
                                          consistency=sub["consistency"],
                                          equivalence=sub["equivalence"]):
            raise ValueError(f"record.subclaims.{key}.holds does not follow from passed, "
                             "adequate, consistency and equivalence")
    counted = [s["holds"] for s in rec["subclaims"].values() if not s["consistency"]]
    if rec["verdict"] != verdict_from(counted):
        raise ValueError(f"record.verdict {rec['verdict']!r} does not follow from its "
                         f"sub-claims ({verdict_from(counted)!r})")
    units = rec.get("highlight_units", {})
    if not isinstance(units, dict) or not all(isinstance(u, str) for u in units.values()):
        raise ValueError("record.highlight_units must map highlight names to unit strings")
    _check_fields(rec["provenance"], _PROV, "record.provenance")
    _check_fields(rec["fingerprint"], _FPRINT, "record.fingerprint")
    for part in ("provenance", "fingerprint"):
        if rec[part]["device"] not in ("cpu", "cuda"):
            raise ValueError(f"record.{part}.device {rec[part]['device']!r} is not cpu or cuda")
    return rec


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate one record; a broken file raises :class:`RecordError` naming it."""
    path = Path(path)
    claim = path.stem
    fix = (f"delete it and rerun the claim (`sparsestudy run --only {claim} --force`)"
           if CLAIM_ID.match(claim) else "delete it and rerun the claim")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecordError(f"cannot read the claim record {path} ({exc.strerror})") from None
    try:
        rec = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"the claim record {path} is not valid JSON ({exc}): it was damaged "
                          f"or edited by hand; {fix}") from None
    try:
        validate_record(rec)
    except ValueError as exc:
        raise RecordError(f"the claim record {path} is not a valid record: {exc}; {fix}"
                          ) from None
    return rec


def load_records(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """All claim records in ``directory``, sorted by claim id (a broken one raises)."""
    return [load_record(p) for p in sorted(Path(directory).glob(RECORD_GLOB))]


__all__ = [
    "ClaimRecord", "verdict_from", "subclaim_state", "outcome_words", "why_sentence",
    "validate_record", "load_record", "load_records", "to_jsonable", "provenance",
    "RecordError", "SUPPORTED", "MIXED", "NOT_SUPPORTED", "INCONCLUSIVE", "VERDICTS", "FORMAT",
]
