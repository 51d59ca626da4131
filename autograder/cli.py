"""The `autograder` command: wires the steps together; the steps never import it.

autograder release <lab> | --all [--force] [--no-check]
autograder check [<lab> ...]          self-check: hidden tests pass on the reference
autograder grade <lab> <inputs...> [--roster roster.csv] [--db URL] [--scheduler local:N|tcp://...]
autograder report <lab> [--out folder] [--db URL] [--feedback-zip]
autograder export gradescope <lab> [--out dist] [--no-check]   a Gradescope autograder zip, run
                                       here on the solution first (memory and time measured)
autograder export grades <lab> --format canvas|moodle|gradescope|csv [--roster roster.csv]
                       [--match email|idnumber|username]   (Moodle's identifier)
autograder export nbgrader <lab> [--out dist/nbgrader]  the lab as an nbgrader course folder
autograder review <lab> [--db URL] [--port 8765] [--anonymous]  grade by question in a browser
autograder ta-password                 a TA login's password hash for course_config.py
autograder validate <notebook> [--lab <lab>]   a student's check before submitting
autograder demo                        release every lab and self-check it
autograder init <folder>               a new course that releases and grades an example lab
autograder new-lab <id> [--title T]    a source notebook, hidden tests and config entry
autograder import nbgrader|otter <path>   an nbgrader or Otter Assign assignment as a lab

Exit status: 0 done; 1 a self-check failed; 2 nothing was done (a mistake in the command, the
course config or files, the roster, or a gradebook that is not there), said in one line; 3 graded,
but some inputs were refused (each named in one line above the summary); 4 some submissions could
not be graded because of the grader (not the submission: each named above the summary, recorded
as a fault and never as a grade), or the gradebook stopped answering: the same command, run
again, grades what is left.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.core.config import ConfigError, Course, load_course
from autograder.core.errors import UserError

if TYPE_CHECKING:
    from autograder.judging.executor import Executor

# Every step's one-line errors share UserError: caught here without importing the steps, so a
# command pays only for the steps it runs.
USER_ERRORS = (UserError,)
EXIT_CHECK_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_SOME_REFUSED = 3
EXIT_GRADER_FAILED = 4


def _labs(course: Course, names: list[str], all_labs: bool) -> list[str]:
    if all_labs or not names:
        return list(course.labs)
    for name in names:
        course.lab(name)  # unknown names fail here, before any work
    return names


def _require_course_files(course: Course, release: bool = False) -> None:
    """One line naming a file the course lacks (conftest, courselib, constraints) and what to do,
    before any work starts."""
    from autograder.authoring.course_init import course_file_problem

    problem = course_file_problem(course.root, release)
    if problem:
        raise ConfigError(problem)


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    from autograder.authoring.release import release_lab

    if not args.labs and not args.all:
        raise ConfigError("name a lab to release, or --all")
    _require_course_files(course, release=True)
    for lab_id in _labs(course, args.labs, args.all):
        started = time.perf_counter()
        summary = release_lab(course, lab_id, check_tests=not args.no_check, force=args.force)
        print(f"released {summary.describe()} ({time.perf_counter() - started:.0f} s)")
    return 0


def self_check(course: Course, lab_id: str) -> str:
    """One line: the lab's points add up and its hidden tests pass on the reference."""
    from autograder.judging.hidden_tests import check_points, run_hidden_tests

    total = check_points(course, lab_id)
    records = run_hidden_tests(course, lab_id)
    passed = [record for record in records if record.outcome == "passed"]
    earned = sum(record.earned for record in records)
    tested = sum(record.points for record in records)
    status = "ok" if len(passed) == len(records) else "FAILED"
    written = f" (and {total - tested:g} of written questions)" if total > tested else ""
    return (
        f"self-check {lab_id}: {status}, {len(passed)}/{len(records)} hidden tests pass on the "
        f"reference, {earned:g}/{tested:g} points{written}"
    )


def cmd_check(course: Course, args: argparse.Namespace) -> int:
    _require_course_files(course)
    failed = False
    for lab_id in _labs(course, args.labs, False):
        line = self_check(course, lab_id)
        failed |= "FAILED" in line
        print(line)
    return EXIT_CHECK_FAILED if failed else 0


def _executor(workers: int, scheduler: str | None) -> Executor:
    """What grades the notebooks: a Dask cluster for `--scheduler`, else a local pool of
    `workers` processes (see `autograder.judging.executor`)."""
    if scheduler:
        from autograder.distributed.client import DaskCluster

        return DaskCluster(scheduler)  # a mistyped --scheduler is one line, nothing graded
    from autograder.judging.local_pool import LocalPool

    return LocalPool(workers)


def _grade(course: Course, lab_id: str, inputs: list[Path], workers: int, device: str,
           force: bool, db: str | None, roster: Path | None = None,
           scheduler: str | None = None) -> tuple[list[str], bool, int]:
    """(lines to print, whether some inputs were refused, how many submissions the grader
    failed to grade)."""
    import tempfile

    from autograder.intake import gather
    from autograder.intake.roster import load_roster
    from autograder.judging.grading import grade_batch, resolve_device
    from autograder.records.gradebook import Gradebook

    course.lab(lab_id)
    _require_course_files(course)
    device = resolve_device(device)
    course_roster = load_roster(roster) if roster else None
    with tempfile.TemporaryDirectory(prefix="autograder-intake-") as scratch:
        intake = gather(inputs, lab_id, course.timezone, Path(scratch), course_roster,
                        lab=course.lab(lab_id))
        with Gradebook.for_course(course, db) as gradebook:
            summary = grade_batch(course, lab_id, intake.submissions, gradebook, device=device,
                                  force=force, progress=sys.stderr.isatty(),
                                  executor=_executor(workers, scheduler))  # fmt: skip
    lines = intake.lines() + summary.lines(course.lab(lab_id).points)
    if intake.refused:
        lines.append(f"{len(intake.refused)} inputs refused (named above); everything else was "
                     "graded")  # fmt: skip
    ungraded = len(summary.faults) + bool(summary.stopped)
    if summary.faults:
        lines.append(f"{len(summary.faults)} submissions could not be graded because of the "
                     "grader (named above; no grade was recorded for them): run the same "
                     "command again to grade them")  # fmt: skip
    return lines, bool(intake.refused), ungraded


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    from autograder.judging.grading import default_workers

    workers = args.workers or default_workers()
    lines, refused, ungraded = _grade(course, args.lab, args.inputs, workers, args.device,
                                      args.force, args.db, args.roster, args.scheduler)
    for line in lines:
        print(line)
    print(f"gradebook: {args.db or course.root / 'gradebook.sqlite'}; "
          f"next: autograder report {args.lab}")  # fmt: skip
    if ungraded:
        return EXIT_GRADER_FAILED
    return EXIT_SOME_REFUSED if refused else 0


def _report(course: Course, lab_id: str, out: Path | None, db: str | None,
            feedback_zip: bool = False) -> str:  # fmt: skip
    from autograder.exports.feedback_zip import write_feedback_zip
    from autograder.records.gradebook import Gradebook
    from autograder.records.report import terminal_table, write_report

    course.lab(lab_id)
    out = out or course.root / "reports" / lab_id
    with Gradebook.existing(course, db) as gradebook:
        grades = write_report(course, lab_id, gradebook, out)
    written = f"\nwrote {out}/grades.csv, feedback/, scores.png"
    if feedback_zip:
        path = write_feedback_zip(course, lab_id, grades, out / f"{lab_id}-feedback.zip")
        written += f"\nwrote {path}: one <student>.html per student, to upload"
    return terminal_table(grades, course) + written


def cmd_report(course: Course, args: argparse.Namespace) -> int:
    print(_report(course, args.lab, args.out, args.db, args.feedback_zip))
    return 0


def cmd_export_gradescope(course: Course, args: argparse.Namespace) -> int:
    from autograder.exports.gradescope import build_gradescope_zip
    from autograder.exports.gradescope_check import check_gradescope_zip

    started = time.perf_counter()
    path = build_gradescope_zip(course, args.lab, args.out or course.root / "dist")
    if args.no_check:
        lines = ["not run here (--no-check): its memory and time are not measured"]
    else:
        try:
            lines = check_gradescope_zip(course, args.lab, path)
        except USER_ERRORS:
            path.unlink()  # refused: nothing to upload
            raise
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB, "
          f"{time.perf_counter() - started:.0f} s): upload it as the assignment's autograder")
    print("\n".join(lines))
    return 0


def cmd_export_nbgrader(course: Course, args: argparse.Namespace) -> int:
    from autograder.exports.nbgrader_course import export_nbgrader

    export = export_nbgrader(course, args.lab, args.out or course.root / "dist" / "nbgrader")
    print("\n".join(export.lines()))
    return 0


def cmd_export_grades(course: Course, args: argparse.Namespace) -> int:
    from autograder.exports.grades import export_grades
    from autograder.intake.roster import load_roster
    from autograder.records.gradebook import Gradebook

    course.lab(args.lab)
    roster = load_roster(args.roster) if args.roster else None
    out = args.out or course.root / "dist" / f"{args.lab}-grades-{args.format}.csv"
    with Gradebook.existing(course, args.db) as gradebook:
        export = export_grades(course, args.lab, gradebook, args.format, out, roster,
                               args.assignment, args.match)  # fmt: skip
    print("\n".join(export.lines()))
    return 0


def cmd_review(course: Course, args: argparse.Namespace) -> int:
    import getpass

    from autograder.review import serve

    serve(course, args.lab, args.db, args.host, args.port, args.ta or getpass.getuser(),
          args.anonymous, say=lambda line: print(line, flush=True))  # fmt: skip
    return 0


def cmd_ta_password(course: Course | None, args: argparse.Namespace) -> int:
    import getpass

    from autograder.review.security import hash_password

    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else \
        getpass.getpass("TA password: ")
    if len(password) < 8:
        raise ConfigError("ta-password: use at least 8 characters")
    print(hash_password(password))
    return 0


def cmd_validate(course: Course, args: argparse.Namespace) -> int:
    from autograder.validate import validate_in_course

    report = validate_in_course(course, args.notebook, args.lab, run=not args.no_run)
    print("\n".join(report.lines()))
    return EXIT_CHECK_FAILED if report.problems else 0


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    from autograder.authoring.release import release_lab
    from autograder.sandbox import isolation

    print(f"{course.name} ({course.term}): {len(course.labs)} labs in {course.root}")
    for lab_id in course.labs:
        # The release itself grades the solution and the blank notebook with the hidden tests.
        print(f"released {release_lab(course, lab_id).describe()}")
    print("student notebooks are in release/, executed solutions in solutions/")
    print(f"sandbox: {isolation()}")
    db = f"sqlite:///{course.root / 'reports' / 'demo-gradebook.sqlite'}"
    (course.root / "reports").mkdir(exist_ok=True)
    graded = []
    for lab_id in course.labs:
        examples = course.root / "examples" / lab_id
        if not examples.is_dir():
            continue
        print(f"grading the example submissions in examples/{lab_id}/")
        for line in grade_examples(course, lab_id, db):
            print(line)
        print(_report(course, lab_id, course.root / "reports" / lab_id, db))
        graded.append(lab_id)
    for lab_id in graded:
        # The written answers wait for a TA: the review app reads the demo's gradebook.
        print(f"next: autograder review {lab_id} --db {db}   (grade the written answers in a "
              f"browser), then autograder report {lab_id} --db {db}")  # fmt: skip
    return 0


def grade_examples(course: Course, lab_id: str, db: str) -> list[str]:
    """Grade the lab's example submissions (examples/<lab>/) into the gradebook `db`, as the
    demo does (written answers kept for review); the lines to print."""
    return _grade(course, lab_id, [course.root / "examples" / lab_id], 2, "auto", True, db)[0]


def cmd_init(course: Course | None, args: argparse.Namespace) -> int:
    from autograder.authoring.course_init import init_course

    written = init_course(args.folder, args.name, args.term)
    print(f"created the course in {args.folder.resolve()}: {', '.join(written)}")
    print(f"next: cd {args.folder} && autograder release example && autograder check")
    return 0


def cmd_new_lab(course: Course | None, args: argparse.Namespace) -> int:
    from autograder.authoring.course_init import new_lab
    from autograder.core.config import find_course_root

    root = args.course.resolve() if args.course else find_course_root()
    written = new_lab(root, args.lab, args.title)
    print(f"created {', '.join(written)}")
    print(f"next: edit them, then autograder release {args.lab}")
    return 0


def cmd_import(course: Course | None, args: argparse.Namespace) -> int:
    from autograder.core.config import find_course_root

    root = args.course.resolve() if args.course else find_course_root()
    if args.tool == "nbgrader":
        from autograder.authoring.import_nbgrader import import_nbgrader as run_import
    else:
        from autograder.authoring.import_otter import import_otter as run_import
    written = run_import(root, args.path, args.lab)
    print("\n".join(written))
    print("next: read the hidden tests, then autograder release <lab>")
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

    grade = commands.add_parser("grade", help="grade submitted notebooks into the gradebook")
    grade.add_argument("lab", help="lab id (see course_config.py)")
    grade.add_argument("inputs", nargs="+", type=Path,
                       help=".ipynb files, folders (flat, nbgrader submitted/) or zip exports")
    grade.add_argument("--workers", type=int, default=0, help="parallel workers (default: cores)")
    grade.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions")
    grade.add_argument("--db", default=None, help="SQLAlchemy URL (default: gradebook.sqlite)")
    grade.add_argument("--roster", type=Path, default=None,
                       help="CSV mapping input names to the course's student ids (see README)")
    grade.add_argument("--scheduler", default=None,
                       help="grade on a Dask cluster: local:N (N worker processes here) or a "
                       "scheduler address, tcp://host:8786 (default: a local pool)")
    grade.set_defaults(run=cmd_grade)

    report = commands.add_parser("report", help="grades.csv, feedback and plots for a lab")
    report.add_argument("lab", help="lab id")
    report.add_argument("--out", type=Path, default=None, help="folder (default: reports/<lab>)")
    report.add_argument("--db", default=None, help="SQLAlchemy URL (default: gradebook.sqlite)")
    report.add_argument("--feedback-zip", action="store_true",
                        help="also <lab>-feedback.zip: one HTML page per student, by roster id")
    report.set_defaults(run=cmd_report)

    export = commands.add_parser("export", help="the lab or its grades for other course tools")
    targets = export.add_subparsers(dest="target", required=True)
    gradescope = targets.add_parser("gradescope", help="a Gradescope autograder zip")
    gradescope.add_argument("lab", help="lab id")
    gradescope.add_argument("--out", type=Path, default=None, help="folder (default: dist/)")
    gradescope.add_argument("--no-check", action="store_true",
                            help="do not run the zip on the solution here (memory, time, score)")
    gradescope.set_defaults(run=cmd_export_gradescope)
    grades = targets.add_parser("grades", help="final grades as an LMS import CSV")
    grades.add_argument("lab", help="lab id")
    grades.add_argument("--format", required=True, metavar="canvas|moodle|gradescope|csv",
                        help="the LMS's import format")
    grades.add_argument("--roster", type=Path, default=None,
                        help="the course's students and their LMS ids (see README)")
    grades.add_argument("--db", default=None, help="SQLAlchemy URL (default: gradebook.sqlite)")
    grades.add_argument("--out", type=Path, default=None,
                        help="file (default: dist/<lab>-grades-<format>.csv)")
    grades.add_argument("--assignment", default=None,
                        help="the grade column's name (default: the lab's title)")
    grades.add_argument("--match", default="email", metavar="email|idnumber|username",
                        help="Moodle: the identifier its CSV import maps rows by (default: "
                        "email); only rows that carry it are written")
    grades.set_defaults(run=cmd_export_grades)
    nbgrader = targets.add_parser("nbgrader", help="the lab as an nbgrader course folder")
    nbgrader.add_argument("lab", help="lab id")
    nbgrader.add_argument("--out", type=Path, default=None,
                          help="course folder (default: dist/nbgrader)")
    nbgrader.set_defaults(run=cmd_export_nbgrader)

    review = commands.add_parser("review", help="grade written answers and override tests' "
                                 "points in a browser, question by question")
    review.add_argument("lab", help="lab id")
    review.add_argument("--db", default=None, help="SQLAlchemy URL (default: gradebook.sqlite; "
                        "PostgreSQL for several TAs at once)")
    review.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: this machine only)")
    review.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    review.add_argument("--ta", default=None,
                        help="the TA's name on grades made with the token (default: your login)")
    review.add_argument("--anonymous", action="store_true",
                        help="hide student ids and shuffle the answers")
    review.set_defaults(run=cmd_review)

    password = commands.add_parser("ta-password",
                                   help="hash a TA's password for course_config.py's \"tas\"")
    password.set_defaults(run=cmd_ta_password, without_course=True)

    validate = commands.add_parser("validate", help="check a notebook before submitting it")
    validate.add_argument("notebook", type=Path, help="the .ipynb file to submit")
    validate.add_argument("--lab", default=None, help="lab id (default: the notebook's own)")
    validate.add_argument("--no-run", action="store_true",
                          help="only read the notebook, do not run it")
    validate.set_defaults(run=cmd_validate)

    demo = commands.add_parser("demo", help="release, self-check and grade the examples")
    demo.set_defaults(run=cmd_demo)

    init = commands.add_parser("init", help="a new course folder with an example lab")
    init.add_argument("folder", type=Path, help="where to create it (new or empty)")
    init.add_argument("--name", default=None, help="the course's name (default: the folder's)")
    init.add_argument("--term", default=None, help="the term (default: this year)")
    init.set_defaults(run=cmd_init, without_course=True)

    lab = commands.add_parser("new-lab", help="a new lab: source notebook, hidden tests, config")
    lab.add_argument("lab", help="lab id: lower-case letters, digits and _")
    lab.add_argument("--title", default=None, help="the lab's title")
    lab.set_defaults(run=cmd_new_lab, without_course=True)

    imports = commands.add_parser("import", help="an nbgrader or Otter assignment as a lab")
    tools = imports.add_subparsers(dest="tool", required=True)
    for tool, what in (("nbgrader", "an nbgrader assignment folder or source notebook"),
                       ("otter", "an Otter Assign master notebook")):  # fmt: skip
        importer = tools.add_parser(tool, help=what)
        importer.add_argument("path", type=Path, help=what)
        importer.add_argument("--lab", default=None,
                              help="the lab id (default: from the notebook's name)")
        importer.set_defaults(run=cmd_import, without_course=True)
    return parser


def _descendants() -> list[int]:
    """The processes this one started, and theirs, still running."""
    from autograder.core.processes import descendants

    return descendants(os.getpid())


def end_leftover_processes(grace_s: float = 3.0) -> list[int]:
    """No process outlives the command: a kernel, sandbox or worker still running when the command
    is done is asked to stop (SIGTERM), then killed. Returns the pids that were left."""
    left = [pid for pid in _descendants() if pid != _resource_tracker_pid()]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and set(_descendants()) & set(left):
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        time.sleep(0.05)
    for pid in set(_descendants()) & set(left):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return left


def _resource_tracker_pid() -> int | None:
    """multiprocessing's resource tracker, which the grading pool starts: it ignores SIGTERM
    (waiting for it cost every command 3 s) and ends by itself when this process ends."""
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    return getattr(getattr(tracker, "_resource_tracker", None), "_pid", None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # the command itself (not a call from a test): end what it leaves running
        atexit.register(end_leftover_processes)
    run: Callable[[Course, argparse.Namespace], int] = args.run
    try:
        if getattr(args, "without_course", False):  # init, new-lab: the config may not load yet
            return run(None, args)
        return run(load_course(args.course), args)
    except USER_ERRORS as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
