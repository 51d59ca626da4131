"""`autograder review <lab>`: start the review app on this machine and say where it is.

It listens on 127.0.0.1 by default (only this machine can reach it); `--host 0.0.0.0` serves
TAs on other machines, who should then log in with the TA logins of course_config.py rather
than share one token. The app reads and writes the gradebook only through SQLAlchemy: SQLite
for one TA, PostgreSQL (`--db postgresql://...`) for several at once.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from autograder.core.config import Course
from autograder.core.errors import UserError
from autograder.records.gradebook import Gradebook
from autograder.review.app import build_app
from autograder.review.security import Gate
from autograder.review.state import LabReview

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ReviewError(UserError):
    """The review app cannot start, described in one line."""


def allowed_hosts(host: str) -> list[str]:
    """The Host headers the app answers: its loopback names, or any name when it listens
    beyond this machine."""
    return ["127.0.0.1", "localhost", "[::1]"] if host in LOOPBACK else ["*"]


def open_review(course: Course, lab_id: str, db: str | None, ta: str,
                anonymous: bool = False) -> tuple[LabReview, Gate]:  # fmt: skip
    course.lab(lab_id)
    gradebook = Gradebook.existing(course, db)
    gate = Gate(ta, course.tas)
    review = LabReview(course, lab_id, gradebook, gate.student_token, anonymous)
    review.refresh()
    if not review.currents:
        raise ReviewError(f"no graded submissions of {lab_id} in {gradebook.url}; grade first")
    return review, gate


def serve(course: Course, lab_id: str, db: str | None, host: str, port: int, ta: str,
          anonymous: bool = False, say: Callable[[str], None] = print) -> None:  # fmt: skip
    """Serve the review of `lab_id` until interrupted (Ctrl-C)."""
    import uvicorn

    review, gate = open_review(course, lab_id, db, ta, anonymous)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        raise ReviewError(f"--host {host} --port {port}: cannot listen there "
                          f"({error.strerror})") from None  # fmt: skip
    listener.listen(64)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    progress = ", ".join(f"{q.name}: {p.graded}/{p.total}" for q in review.questions
                         if q.kind == "written" for p in [review.progress(q)])  # fmt: skip
    say(f"review {lab_id}: {len(review.currents)} students; written questions graded: "
        f"{progress or 'none'}")
    if gate.token:
        say(f"open {url}?token={gate.token}  (as TA {gate.ta}; Ctrl-C stops)")
    else:
        say(f"open {url} and log in as a TA of course_config.py (Ctrl-C stops)")
    app = build_app(review, gate, allowed_hosts(host))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)  # fmt: skip
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:  # the TA's grades folded into the gradebook file itself
        review.gradebook.close()
