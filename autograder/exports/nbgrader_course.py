"""`autograder export nbgrader <lab>`: the lab as an nbgrader course folder.

    <out>/nbgrader_config.py
    <out>/source/<lab>/<lab>.ipynb    the source notebook, settings filled in, nbgrader metadata
    <out>/source/<lab>/<courselib wheel>, requirements*.txt, README.md, validate.pyz
    <out>/release/<lab>/...           the kit's release, as `generate_assignment` would write it

A course already on nbgrader uses the lab as it is: nbgrader's own release of the exported source
gives students the same code cells as the kit's release, because each solution region's `# TODO`
lines are moved in front of its BEGIN marker and nbgrader's stub is the kit's
(`raise NotImplementedError()`). The kit's hidden tests stay with the kit (nbgrader would show
test cells to students); grade with `autograder grade` from nbgrader's `submitted/` folder.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder.authoring.release import Planned, plan_release, write_student_files
from autograder.authoring.stubs import BEGIN, END, Region, parse_regions
from autograder.core.config import Course
from autograder.core.notebook import write_notebook

NBGRADER_CONFIG = '''"""nbgrader settings for the {lab} export of the course kit."""

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = {course_id!r}
# The kit's stub: with the TODO lines before each BEGIN marker, nbgrader's release is the kit's.
c.ClearSolutions.code_stub = {{"python": "raise NotImplementedError()"}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# The courselib wheel, requirements and README go to students with the notebook.
c.CourseDirectory.include = ["*.ipynb", "*.whl", "*.txt", "*.md", "*.pyz"]
'''


@dataclass
class NbgraderExport:
    folder: Path
    files: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"wrote {self.folder}: an nbgrader course folder ({len(self.files)} files); "
                f"nbgrader's own release: cd {self.folder} && nbgrader generate_assignment "
                f"<lab> --force"]  # fmt: skip


def nbgrader_source_cell(source: str, where: str) -> str:
    """A cell's source with each region's TODO lines (or the kit's generic one) before BEGIN."""
    lines: list[str] = []
    for part in parse_regions(source, where):
        if not isinstance(part, Region):
            lines.append(part)
            continue
        stub = part.stub()[:-1]  # the TODO lines, without the raise nbgrader adds itself
        todos = sum(1 for line in part.lines[: len(stub)] if line.strip().startswith("# TODO"))
        lines += [*stub, part.indent + BEGIN, *part.lines[todos:], part.indent + END]
    return "\n".join(lines)


def nbgrader_source(planned: Planned) -> NotebookNode:
    nb = copy.deepcopy(planned.source)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = nbgrader_source_cell(cell.source, f"cell {index}")
    return nb


def export_nbgrader(course: Course, lab_id: str, out: Path) -> NbgraderExport:
    """Write the nbgrader course folder for `lab_id` into `out` (its lab folders replaced)."""
    planned = plan_release(course, lab_id)
    source_dir, release_dir = out / "source" / lab_id, out / "release" / lab_id
    for folder in (source_dir, release_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    write_student_files(course, lab_id, planned, release_dir)
    for path in release_dir.iterdir():
        if path.suffix != ".ipynb":
            shutil.copy2(path, source_dir / path.name)
    write_notebook(nbgrader_source(planned), source_dir / f"{lab_id}.ipynb")
    config = out / "nbgrader_config.py"
    config.write_text(NBGRADER_CONFIG.format(lab=lab_id, course_id=_course_id(course)))
    files = [config, *source_dir.iterdir(), *release_dir.iterdir()]
    return NbgraderExport(out, sorted(files))


def _course_id(course: Course) -> str:
    return "-".join(f"{course.name} {course.term}".lower().split())
