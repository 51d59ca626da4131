"""Time the review app's pages on a gradebook of 1,000 submissions of one lab.

    .venv/bin/python benchmarks/bench_review.py [--students 1000] [--repeat 20]

Builds the essay fixture lab (tests/kit/written_lab.py: two tested questions, two written ones)
in a temporary course, fills a SQLite gradebook with `--students` graded submissions (their test
results and answers, a third of the answers shared by groups of students, half of the first
written question already graded), starts `autograder review` as a TA does, and times over HTTP,
`--repeat` times each: the question list, a question's page (rubric and every answer group), the
next ungraded answer (the redirect and the page), applying a rubric item (the POST and the page
it leads to), and editing a rubric item (re-scoring every answer that has it). Prints the median
and the slowest of each, whether every page's median is under 200 ms (nbgrader's formgrader: 10
to 28 s per page with about 1,100 submissions) and the machine's load, which the slowest single
pages follow. The first page after a grading batch also reads
every student's current notebook once; that time is printed apart.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "kit"))

GOAL_S = 0.2
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
STATE = re.compile(r'name="state" value="([^"]+)"')
ITEM = re.compile(r'name="item" value="(\d+)"')
VERSION = re.compile(r'action="/q/3/rubric/(\d+)" id="item-\d+">\s*<input[^>]*>\s*'
                     r'<input type="hidden" name="version" value="(\d+)"')


def fill_gradebook(root: Path, students: int) -> str:
    import written_lab

    from autograder.core.written import SubmittedAnswer
    from autograder.records.gradebook import Gradebook, GradedRun
    from autograder.records.manual_grades import Change, ManualGrades, Target

    url = f"sqlite:///{root / 'gradebook.sqlite'}"
    book = Gradebook(url)
    manual = ManualGrades(book, written_lab.LAB)
    why, compare = written_lab.WRITTEN
    common = ["Doubling is linear because 2(a+b) = 2a + 2b.", "It is multiplication by two.", ""]
    for number in range(students):
        student, sha = f"s{number:05d}", f"{number:064x}"
        earned = 2.0 if number % 4 else 0.0
        records = [{"nodeid": "t::test_double", "name": "test_double", "question": "1.1 Doubling",
                    "points": 2, "earned": earned, "outcome": "passed" if earned else "failed",
                    "message": "" if earned else "double(x): 4 of 4 values differ",
                    "duration": 0.1},
                   {"nodeid": "t::test_halve", "name": "test_halve", "question": "1.2 Halving",
                    "points": 1, "earned": 1, "outcome": "passed", "message": "",
                    "duration": 0.1}]  # fmt: skip
        answer = common[number % 3] if number % 3 == 0 else \
            f"Student {number} writes that doubling keeps sums: 2({number}+1) = {2 * number}+2."
        manual.store_answers(student, sha, [
            SubmittedAnswer(why, "written", ("why_linear",), answer),
            SubmittedAnswer(compare, "written", ("compare",), f"Squares: {number % 7}"),
            SubmittedAnswer("1.1 Doubling", "code", ("double",),
                            f"def double(x):\n    return {2 if number % 4 else 3} * x")])
        book.record(GradedRun(student, written_lab.LAB, sha, f"{student}.ipynb", None, 0, 0,
                              "d", "cpu", "bwrap", 1.0, 0.5, [], records))
    manual.seed_rubric(why, [(1.0, "states additivity"), (1.0, "gives an example")], "bench")
    first = manual.rubric(why)[0]
    for number in range(0, students, 2):
        student = f"s{number:05d}"
        manual.change(why, [Target(student, f"{number:064x}", 0)], Change(toggle_item=first.id),
                      "bench")  # fmt: skip
    book.engine.dispose()
    return url


def timed(client, method: str, url: str, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.request(method, url, follow_redirects=True, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed, response


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import httpx
    import written_lab

    with tempfile.TemporaryDirectory(prefix="bench-review-") as scratch:
        root = written_lab.build_course(Path(scratch) / "course")
        started = time.perf_counter()
        url = fill_gradebook(root, args.students)
        print(f"gradebook: {args.students} submissions of {written_lab.LAB} "
              f"({time.perf_counter() - started:.0f} s to fill)")
        command = [sys.executable, "-m", "autograder.cli", "--course", str(root), "review",
                   written_lab.LAB, "--db", url, "--port", "0", "--ta", "bench"]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            opened = ""
            while not opened.startswith("open "):
                opened = server.stdout.readline()
                if not opened:
                    raise SystemExit("the review app did not start")
            address = opened.split()[1]
            base = address.split("?")[0].rstrip("/")
            times: dict[str, list[float]] = {}
            with httpx.Client(timeout=60) as client:
                first, _ = timed(client, "GET", address)
                print(f"first page (reads every student's current notebook): {first * 1000:.0f} ms")

                def page(name: str, method: str, path: str, **kwargs) -> object:
                    elapsed, response = timed(client, method, base + path, **kwargs)
                    times.setdefault(name, []).append(elapsed)
                    return response

                for _ in range(args.repeat):
                    page("question list", "GET", "/")
                    question = page("question page (rubric, every group)", "GET", "/q/3").text
                    answer = page("next ungraded answer", "GET", "/q/3/next")
                    form = {"csrf": CSRF.search(answer.text)[1],
                            "state": STATE.search(answer.text)[1], "action": "toggle",
                            "item": ITEM.search(answer.text)[1]}  # fmt: skip
                    page("apply a rubric item", "POST", str(answer.url.path) + "/grade",
                         data=form)  # fmt: skip
                    item, version = VERSION.search(question).groups()
                    page("edit a rubric item (re-scores its answers)", "POST",
                         f"/q/3/rubric/{item}", data={"csrf": form["csrf"], "version": version,
                                                      "points": "1", "text": "states additivity",
                                                      "action": "save"})  # fmt: skip
        finally:
            server.terminate()
            server.wait(20)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:<45} median {medians[name] * 1000:6.1f} ms, "
              f"slowest {max(values) * 1000:6.1f} ms")
    typical = max(medians.values())
    slowest = max(max(values) for values in times.values())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    verdict = "under" if typical < GOAL_S else "NOT under"
    print(f"every page's median {verdict} {GOAL_S * 1000:.0f} ms (the slowest median "
          f"{typical * 1000:.0f} ms; the slowest single page {slowest * 1000:.0f} ms, with the "
          f"machine's load average at {load}); nbgrader's formgrader: 10-28 s per page with "
          "about 1,100 submissions")
    return 0 if typical < GOAL_S else 1

if __name__ == "__main__":
    sys.exit(main())
