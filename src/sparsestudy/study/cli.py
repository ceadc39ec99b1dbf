"""The ``sparsestudy`` command line.

::

    sparsestudy run     [--profile quick|full] [--only C01,C03] [--force]
    sparsestudy book    [--profile quick|full] [--strict]
    sparsestudy claims  [--profile quick|full]
    sparsestudy publish [--only C01,C03] [--commit REF] [--from RESULTS]
    sparsestudy stale   [--github-output]
    sparsestudy repository [URL]

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
                          description="Build _build/html (warnings are errors). Without "
                                      "--profile the chapters are the published full ones "
                                      "(book/records/full/) and the scoreboard shows the quick "
                                      "verdicts beside them; with --profile the chapters are "
                                      "that profile's (results/<profile>/executed/).")
    book.add_argument("--profile", default=None,
                      help="show this profile's chapters (default: the published full "
                           "chapters, beside the quick profile's verdicts)")
    book.add_argument("--strict", action="store_true",
                      help="refuse to build when a claim's verdict cannot be computed (a "
                           "notebook failed or has no record): what the publish workflow uses")
    book.add_argument("--verbose", action="store_true", help="show jupyter-book's output")

    pub = sub.add_parser("publish", help="publish the full profile's records in the book",
                         description="Run the full profile from a clean git worktree of one "
                                     "commit (the runner skips what is up to date) and copy its "
                                     "records and executed notebooks to book/records/full/, "
                                     "after checking their provenance. Commits nothing.")
    pub.add_argument("--only", metavar="C01,C03", default=None, help="claims to publish")
    pub.add_argument("--commit", default="HEAD", help="the commit to run (default HEAD)")
    pub.add_argument("--from", dest="from_dir", metavar="RESULTS", type=Path, default=None,
                     help="publish records already run (a folder holding full/ or the records "
                          "themselves), after checking them against the commit they name")
    pub.add_argument("--device", choices=("cpu", "cuda", "auto"), default=None,
                     help="inject device=DEVICE into every notebook")

    stale = sub.add_parser("stale", help="list the claims whose published record is stale",
                           description="Print, as a JSON list, the claims whose published full "
                                       "record is missing or no longer matches the tree.")
    stale.add_argument("--github-output", action="store_true",
                       help="print claims=<JSON list> (for $GITHUB_OUTPUT)")

    repo = sub.add_parser("repository", help="set or check the public repository's URL",
                          description="With URL, write the public repository's URL into "
                                      "_config.yml and into the Colab set-up cell of every "
                                      "claim notebook (commit the result); without, check that "
                                      "they agree.")
    repo.add_argument("url", nargs="?", default=None,
                      help="https://github.com/OWNER/NAME ('' for none)")

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

    chapters = "published" if args.profile is None else "profile"
    index = build_book(profile=args.profile or "quick", root=root, quiet=not args.verbose,
                       chapters=chapters, strict=args.strict)
    print(f"The book is built: open {index.resolve().as_uri()}")
    return EXIT_OK


def _cmd_publish(args: argparse.Namespace, root: Path | None) -> int:
    from .layout import project_root
    from .publish import publish, publish_from

    root = root or project_root()
    if args.from_dir is not None:
        written = publish_from(args.from_dir, root, args.only)
    else:
        written = publish(root, args.commit, args.only, device=args.device)
    for path in written:
        print(f"published {path.relative_to(root)}")
    print("Review and commit book/records/full/ (sparsestudy publish commits nothing).")
    return EXIT_OK


def _cmd_stale(args: argparse.Namespace, root: Path | None) -> int:
    import json

    from .publish import stale_claims

    claims = json.dumps(stale_claims(root))
    print(f"claims={claims}" if args.github_output else claims)
    return EXIT_OK


def _cmd_repository(args: argparse.Namespace, root: Path | None) -> int:
    from .colab import check_repository, config_url, set_repository

    if args.url is not None:
        changed = set_repository(args.url, root)
        print(f"repository URL {args.url or '(none)'}: "
              + (f"{len(changed)} file(s) rewritten" if changed else "already set everywhere"))
        return EXIT_OK
    problems = check_repository(root)
    for p in problems:
        _error(p)
    if not problems:
        print(config_url(root) or "no repository URL configured (the notebooks agree)")
    return EXIT_FAILED if problems else EXIT_OK


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
    commands = {"run": _cmd_run, "book": _cmd_book, "claims": _cmd_claims,
                "publish": _cmd_publish, "stale": _cmd_stale, "repository": _cmd_repository}
    from .book import BookError
    from .layout import RunInProgress
    from .publish import PublishError

    try:
        return commands[args.command](args, root)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except (ValueError, BookError, PublishError, FileNotFoundError, RunInProgress) as exc:
        if args.traceback or os.environ.get("SPARSESTUDY_TRACEBACK"):
            raise
        _error(str(exc))
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
