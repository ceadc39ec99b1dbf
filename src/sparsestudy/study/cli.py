"""The ``sparsestudy`` command line.

::

    sparsestudy run    [--profile quick|full] [--only C01,C03] [--force]
    sparsestudy book   [--profile quick|full]
    sparsestudy claims [--profile quick|full]

Expected failures (a notebook failed, an unknown profile or claim id, a failed book build) end
with exit status 1 and a short message, without a traceback; ``--traceback`` shows it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sparsestudy",
        description="Run the claim notebooks, build the book, show the computed verdicts.",
    )
    p.add_argument("--root", type=Path, default=None,
                   help="project root (default: the nearest directory above the current one "
                        "with _config.yml and pyproject.toml)")
    p.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def profile_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--profile", default="quick",
                        help="parameter profile, notebooks/profiles/<PROFILE>.yaml: quick "
                             "(default, minutes, what CI runs) or full (the study's scale)")

    run = sub.add_parser("run", help="execute the claim notebooks (papermill)",
                         description="Execute the claim notebooks of a profile into "
                                     "results/<profile>/; notebooks whose source, parameters and "
                                     "library are unchanged since their last successful run are "
                                     "skipped.")
    profile_arg(run)
    run.add_argument("--only", metavar="C01,C03", default=None,
                     help="comma-separated claim ids to run (default: all)")
    run.add_argument("--force", action="store_true", help="rerun even up-to-date notebooks")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--device", choices=("cpu", "cuda", "auto"), default=None,
                     help="inject device=DEVICE into every notebook (default: each notebook's "
                          "own setting)")
    run.add_argument("--scheduler", metavar="ADDRESS", default=None,
                     help="inject scheduler=ADDRESS (a Dask scheduler) into every notebook")
    run.add_argument("--no-wait", action="store_true",
                     help="stop at once, instead of waiting, when another run of this profile "
                          "is in progress")

    book = sub.add_parser("book", help="build the HTML book from the executed notebooks",
                          description="Copy results/<profile>/executed/ into the book, write "
                                      "the scoreboard and build _build/html (warnings are "
                                      "errors).")
    profile_arg(book)
    book.add_argument("--verbose", action="store_true", help="show jupyter-book's output")

    claims = sub.add_parser("claims", help="print the scoreboard of computed verdicts",
                            description="Print each claim's computed verdict and sub-claims "
                                        "from results/<profile>/*.json.")
    profile_arg(claims)
    return p


def _cmd_run(args: argparse.Namespace, root: Path | None) -> int:
    from .runner import NotebookRunError, run_notebooks

    try:
        outcomes = run_notebooks(profile=args.profile, only=args.only, force=args.force,
                                 root=root, progress=not args.no_progress, device=args.device,
                                 scheduler=args.scheduler, wait=not args.no_wait)
    except NotebookRunError as exc:
        outcomes = exc.outcomes
        ran = sum(o.status == "ran" for o in outcomes)
        skipped = sum(o.status == "skipped" for o in outcomes)
        print(f"{ran} ran, {skipped} up to date, {len(exc.failures)} failed "
              "(earlier records of failed notebooks were kept)")
        _error(str(exc))
        return EXIT_FAILED
    ran = sum(o.status == "ran" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    if args.no_progress:
        for o in outcomes:
            print(o.describe())
    print(f"{ran} ran, {skipped} up to date; records in {_where(outcomes)}")
    return EXIT_OK


def _where(outcomes) -> str:
    for o in outcomes:
        if o.record is not None:
            return str(Path(o.record).parent)
    return "results/"


def _cmd_book(args: argparse.Namespace, root: Path | None) -> int:
    from .book import build_book

    index = build_book(profile=args.profile, root=root, quiet=not args.verbose)
    print(f"The book is built: open {index.resolve().as_uri()}")
    return EXIT_OK


def _cmd_claims(args: argparse.Namespace, root: Path | None) -> int:
    from .book import format_claims

    print(format_claims(profile=args.profile, root=root))
    return EXIT_OK


def _error(message: str) -> None:
    print(f"sparsestudy: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparsestudy`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    root = args.root.resolve() if args.root is not None else None
    if root is not None and not root.is_dir():
        _error(f"--root {root} is not a directory")
        return EXIT_FAILED
    commands = {"run": _cmd_run, "book": _cmd_book, "claims": _cmd_claims}
    from .book import BookError
    from .layout import RunInProgress

    try:
        return commands[args.command](args, root)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except (ValueError, BookError, FileNotFoundError, RunInProgress) as exc:
        if args.traceback or os.environ.get("SPARSESTUDY_TRACEBACK"):
            raise
        _error(str(exc))
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
