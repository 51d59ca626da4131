"""`autograder report <lab> --feedback-zip`: every student's feedback in one zip, ready to upload.

One HTML file per student (the report's own feedback page: self-contained, no scripts, every
text from a submission escaped), named by the student's roster id (`<student>.html`, the id
`grade` stored from the roster). The zip is reproducible: sorted entries, fixed timestamps.
"""

from __future__ import annotations

from pathlib import Path

from autograder.authoring.student_bundle import write_reproducible_zip
from autograder.core.config import Course
from autograder.records.report import StudentGrade, feedback_file_stem, feedback_html


def write_feedback_zip(course: Course, lab_id: str, grades: list[StudentGrade], path: Path) -> Path:
    """`path`: one `<student>.html` per graded student."""
    pages = {f"{feedback_file_stem(grade.student)}.html":
             (feedback_html(course, lab_id, grade).encode(), 0o100644) for grade in grades}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_reproducible_zip(path, {name: pages[name] for name in sorted(pages)})
    return path
