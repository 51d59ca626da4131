"""What students receive beside the notebook: courselib as a wheel, pinned requirements and the
notebook check (`validate.pyz`).

All are built byte-for-byte reproducibly (fixed zip timestamps, sorted entries), so releasing
twice changes nothing. The requirements pin the whole dependency closure of what a student needs
to open and run the notebook, with the versions of the kit's constraints file.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import re
import zipfile
from pathlib import Path

from nbformat import NotebookNode
from packaging.requirements import Requirement

import autograder
from autograder.core.config import Lab
from autograder.validate import STUDENT_APP, STUDENT_APP_MODULES, graded_names

# What courselib imports (declared by its wheel, unpinned: requirements.txt pins them).
COURSELIB_DEPENDENCIES = ("matplotlib", "numpy", "scipy", "torch")
# Jupyter, pinned apart so that Colab (which has its own Jupyter) installs requirements.txt only.
JUPYTER_PACKAGES = ("ipykernel", "jupyterlab")
# PyTorch's index of CPU-only builds: on Linux, PyPI's torch would pull gigabytes of CUDA.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
WHEEL_DATE = (1980, 1, 1, 0, 0, 0)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def courselib_version(courselib_dir: Path) -> str:
    match = re.search(r'__version__\s*=\s*"([^"]+)"', (courselib_dir / "__init__.py").read_text())
    if not match:
        raise ValueError(f"{courselib_dir}/__init__.py defines no __version__")
    return match.group(1)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_courselib_wheel(courselib_dir: Path, dest_dir: Path) -> Path:
    """Write `courselib-<version>+src.<digest>-py3-none-any.whl` into dest_dir; return its path.

    The version carries a digest of the code, so every change of courselib is a new version:
    `pip install -r requirements.txt` then replaces an older courselib instead of keeping it
    as "already satisfied". `courselib.__version__` in the wheel says the same.
    """
    sources = {
        f"courselib/{path.relative_to(courselib_dir).as_posix()}": path.read_bytes()
        for path in sorted(courselib_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    digest = hashlib.sha256()
    for name, data in sources.items():
        digest.update(name.encode() + b"\0" + data)
    base = courselib_version(courselib_dir)
    version = f"{base}+src.{digest.hexdigest()[:10]}"
    init = sources["courselib/__init__.py"].decode()
    sources["courselib/__init__.py"] = init.replace(f'"{base}"', f'"{version}"', 1).encode()
    dist_info = f"courselib-{version}.dist-info"
    files = dict(sources)
    requires = "".join(f"Requires-Dist: {name}\n" for name in COURSELIB_DEPENDENCIES)
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: courselib\nVersion: {version}\n"
        "Summary: Datasets, metrics and plots for the recurrent neural networks labs\n"
        f"Requires-Python: >=3.11\n{requires}"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: autograder\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(name, data) for name, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = dest_dir / f"courselib-{version}-py3-none-any.whl"
    write_reproducible_zip(wheel, {name: (data, 0o644) for name, data in files.items()})
    return wheel


def write_reproducible_zip(path: Path, entries: dict[str, tuple[bytes, int]]) -> None:
    """A zip of `{name: (data, mode)}` in the given order, with fixed timestamps: the same
    entries always give the same bytes. `mode` is stored as the Unix mode `unzip` restores."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in entries.items():
            info = zipfile.ZipInfo(name, date_time=WHEEL_DATE)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def read_constraints(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name)] = f"{name.strip()}=={version.strip()}"
    return pins


def dependency_closure(roots: tuple[str, ...]) -> set[str]:
    """Canonical names of `roots` and everything they require (no extras), as installed here."""
    seen: set[str] = set()
    todo = [_canonical(name) for name in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(_canonical(requirement.name))
    return seen


def pinned_closure(constraints: Path, roots: tuple[str, ...]) -> list[str]:
    """`name==version` for `roots` and everything they require, from the constraints file."""
    pins = read_constraints(constraints)
    closure = dependency_closure(roots)
    missing = sorted(name for name in closure if name not in pins)
    if missing:
        raise ValueError(f"{constraints.name} does not pin {', '.join(missing)}")
    return sorted((pins[name] for name in closure), key=str.lower)


def student_requirements(constraints: Path, wheel_name: str) -> str:
    """requirements.txt: the courselib wheel and its pinned dependency closure, with the CPU
    builds of torch. No Jupyter pins, so it installs on Colab without touching its Jupyter."""
    lines = pinned_closure(constraints, COURSELIB_DEPENDENCIES)
    header = [
        "# pip install -r requirements.txt   (from this folder; add -r requirements-jupyter.txt",
        "# on your own machine to get JupyterLab; Colab and JupyterHub already have it)",
        "# torch comes from PyTorch's CPU-only index: no CUDA downloads (the labs run on CPU).",
        f"--extra-index-url {TORCH_CPU_INDEX}",
        f"./{wheel_name}",
    ]
    return "\n".join(header + lines) + "\n"


def jupyter_requirements(constraints: Path) -> str:
    """requirements-jupyter.txt: JupyterLab and the kernel, pinned, for students' own machines."""
    lines = pinned_closure(constraints, JUPYTER_PACKAGES)
    header = ["# pip install -r requirements.txt -r requirements-jupyter.txt  (not on Colab)"]
    return "\n".join(header + lines) + "\n"


def build_validate_app(release: NotebookNode, lab: Lab, dest_dir: Path) -> Path:
    """`validate.pyz`: `autograder validate` for students, knowing only the released notebook's
    graded names and the lab's limits (a zip Python runs as a program)."""
    kit_root = Path(autograder.__file__).resolve().parent.parent
    facts = {"id": lab.id, "graded_names": graded_names(release),
             "cell_timeout_s": lab.cell_timeout_s, "notebook_timeout_s": lab.notebook_timeout_s,
             "skip_tags": list(lab.skip_tags)}  # fmt: skip
    main = (f'"""Check the {lab.id} notebook before submitting: python {STUDENT_APP} '
            '[notebook] [--no-run]"""\n\nimport json\nimport sys\n\n'
            "from autograder.validate import student_main\n\n"
            f"LAB = json.loads({json.dumps(json.dumps(facts, sort_keys=True))})\n"
            "sys.exit(student_main(sys.argv[1:], LAB))\n")  # fmt: skip
    entries = {"__main__.py": (main.encode(), 0o644)}
    entries |= {name: ((kit_root / name).read_bytes(), 0o644) for name in STUDENT_APP_MODULES}
    app = dest_dir / STUDENT_APP
    write_reproducible_zip(app, entries)
    return app
