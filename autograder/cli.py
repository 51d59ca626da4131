"""The `autograder` command: wires the steps together; the steps never import it.

autograder release <lab> | --all [--force] [--no-check]
autograder check [<lab> ...]          self-check: hidden tests pass on the reference
autograder demo                        release every lab and self-check it
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from autograder.config import ConfigError, Course, load_course
from autograder.hidden_tests import HiddenTestsError, check_points, run_hidden_tests
from autograder.notebook import NotebookError
from autograder.release import ReleaseError, release_lab
from autograder.stubs import SourceError

USER_ERRORS = (ConfigError, ReleaseError, HiddenTestsError, NotebookError, SourceError)


def _labs(course: Course, names: list[str], all_labs: bool) -> list[str]:
    if all_labs or not names:
        return list(course.labs)
    for name in names:
        course.lab(name)  # unknown names fail here, before any work
    return names


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    if not args.labs and not args.all:
        raise ConfigError("name a lab to release, or --all")
    for lab_id in _labs(course, args.labs, args.all):
        started = time.perf_counter()
        summary = release_lab(course, lab_id, check_tests=not args.no_check, force=args.force)
        print(f"released {summary.describe()} ({time.perf_counter() - started:.0f} s)")
    return 0


def self_check(course: Course, lab_id: str) -> str:
    """One line: the lab's points add up and its hidden tests pass on the reference."""
    total = check_points(course, lab_id)
    records = run_hidden_tests(course, lab_id)
    passed = [record for record in records if record.outcome == "passed"]
    earned = sum(record.earned for record in records)
    status = "ok" if len(passed) == len(records) else "FAILED"
    return (
        f"self-check {lab_id}: {status}, {len(passed)}/{len(records)} hidden tests pass on the "
        f"reference, {earned:g}/{total:g} points"
    )


def cmd_check(course: Course, args: argparse.Namespace) -> int:
    failed = False
    for lab_id in _labs(course, args.labs, False):
        line = self_check(course, lab_id)
        failed |= "FAILED" in line
        print(line)
    return 1 if failed else 0


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    print(f"{course.name} ({course.term}): {len(course.labs)} labs in {course.root}")
    for lab_id in course.labs:
        summary = release_lab(course, lab_id)
        print(f"released {summary.describe()}")
        print(self_check(course, lab_id))
    print("student notebooks are in release/, executed solutions in solutions/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=None, help="course folder (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="write release/ and solutions/ from source/")
    release.add_argument("labs", nargs="*", help="lab ids (see course_config.py)")
    release.add_argument("--all", action="store_true", help="release every lab")
    release.add_argument("--force", action="store_true", help="execute the solution again")
    release.add_argument("--no-check", action="store_true", help="skip the hidden-test checks")
    release.set_defaults(run=cmd_release)

    check = commands.add_parser("check", help="run the hidden tests on the reference solutions")
    check.add_argument("labs", nargs="*", help="lab ids (default: all)")
    check.set_defaults(run=cmd_check)

    demo = commands.add_parser("demo", help="release and self-check every lab")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[Course, argparse.Namespace], int] = args.run
    try:
        return run(load_course(args.course), args)
    except USER_ERRORS as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
