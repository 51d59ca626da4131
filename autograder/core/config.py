"""Load and validate `course_config.py`.

The config is plain data; this module turns it into frozen dataclasses and names the field of
every mistake in a one-line `ConfigError` ("course_config.py: labs[0].due: ...").
"""

from __future__ import annotations

import hashlib
import os
import runpy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder.core.errors import UserError

CONFIG_FILE = "course_config.py"
UNKNOWN_TIME_POLICIES = ("error", "on_time", "late")
EXCUSED = "excused"  # an extension that waives the late penalty whatever the time
ROOT_ENV = "AUTOGRADER_COURSE_ROOT"
DEVICES = ("cpu", "cuda")
DTYPES = ("float64", "float32")
# Who sees a Gradescope result and when (Gradescope's own names for it).
GRADESCOPE_VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
# What a grade export writes for a roster student who submitted nothing.
MISSING_SUBMISSION_POLICIES = ("empty", "zero")


class ConfigError(UserError):
    """A mistake in course_config.py, described in one line that names the field."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


@dataclass(frozen=True)
class LatePolicy:
    grace_minutes: float
    penalty_per_day: float
    max_days_late: int
    # What a submission whose time is unknown counts as (see autograder.records.lateness).
    unknown_time: str = "error"


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    notebook: Path
    release: datetime
    due: datetime
    points: float
    cell_timeout_s: float
    notebook_timeout_s: float
    test_timeout_s: float
    memory_mb: int
    skip_tags: tuple[str, ...]
    tolerances: dict[str, dict[str, Tolerance]]
    config_key: str  # where the lab sits in course_config.py, for error messages ("labs[0]")
    training_budget_s: float | None = None  # CPU time a graded training cell may take, if any
    # Time limits count CPU time; the backstop stops code that sleeps (neither runs nor waits to
    # run) for this many times a limit. Load does not advance it, so it needs no room for load.
    wall_factor: float = 2.0
    # The largest answer the sandbox may send for one call (bigger ones fail that test): the
    # grader's memory per answer stays within a small multiple of it.
    max_reply_mb: float = 16.0
    # On a Dask cluster with --device cuda: submissions one GPU grades at once (a small lab: more).
    submissions_per_gpu: int = 1
    # Gradescope: the visibility of the whole result, and per question (others: the default).
    gradescope_visibility: str = "visible"
    gradescope_question_visibility: dict[str, str] = field(default_factory=dict)
    # Gradescope: the container memory the assignment is set to (its default is 768 MB); the
    # export refuses a lab whose measured run needs more.
    gradescope_memory_mb: int = 768
    # Numbers and words the notebook states and the hidden tests use (thresholds, sizes): written
    # once here, filled into the notebook's text at release, read by tests as lab.constants[name].
    constants: dict[str, int | float | str] = field(default_factory=dict)
    # A lab imported from Otter: the seed Otter's grader sets before every code cell (NumPy's and
    # `random`'s, or `cell_seed_variable` = the seed), so random draws match Otter's.
    cell_seed: int | None = None
    cell_seed_variable: str | None = None

    def tolerance(self, device: str, dtype: str) -> Tolerance:
        """The tolerance for results of `dtype` computed on `device` ("cuda:0" counts as cuda)."""
        kind = "cuda" if device.startswith("cuda") else "cpu"
        table = self.tolerances[kind]
        return table.get(dtype, table["float32"])


@dataclass(frozen=True)
class Course:
    root: Path
    name: str
    term: str
    timezone: ZoneInfo
    seed_salt: str
    late_policy: LatePolicy
    labs: dict[str, Lab]
    # {lab id: {student id: a later due date, or EXCUSED}}: per-student extensions.
    extensions: dict[str, dict[str, datetime | str]] = field(default_factory=dict)
    # Grade exports: a roster student without a submission gets an empty cell, or a zero.
    missing_submission: str = "empty"
    # `autograder review` with TA logins: {TA name: password hash from `autograder ta-password`}.
    tas: dict[str, str] = field(default_factory=dict)

    def lab(self, lab_id: str) -> Lab:
        if lab_id not in self.labs:
            known = ", ".join(sorted(self.labs)) or "none"
            raise ConfigError(f"{CONFIG_FILE}: unknown lab {lab_id!r} (labs: {known})")
        return self.labs[lab_id]

    def seed(self, lab_id: str) -> int:
        """The hidden-test seed of a lab: fixed per lab and term, derived from the secret salt."""
        digest = hashlib.sha256(f"{self.term}:{lab_id}:{self.seed_salt}".encode()).digest()
        return int.from_bytes(digest[:4], "little")

    def sandbox_seed(self, lab_id: str) -> int:
        """The seed of the generators inside the sandbox (`torch.initial_seed()` in a student's
        cell): fixed per lab and term, but drawn from the salt independently of `seed`, so that
        what a student can read there says nothing of the hidden tests' inputs."""
        text = f"sandbox:{self.term}:{lab_id}:{self.seed_salt}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")

    def source_dir(self, lab_id: str) -> Path:
        return self.root / "source" / lab_id

    def release_dir(self, lab_id: str) -> Path:
        return self.root / "release" / lab_id

    def solutions_dir(self, lab_id: str) -> Path:
        return self.root / "solutions" / lab_id

    def tests_dir(self, lab_id: str) -> Path:
        return self.root / "tests" / lab_id


def find_course_root(start: Path | None = None) -> Path:
    """The folder holding course_config.py: $AUTOGRADER_COURSE_ROOT, else the nearest parent."""
    if os.environ.get(ROOT_ENV):
        root = Path(os.environ[ROOT_ENV]).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise ConfigError(f"${ROOT_ENV}={root} has no {CONFIG_FILE}")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or its parents; run from the course folder or set ${ROOT_ENV}"
    )


def load_course(root: Path | None = None) -> Course:
    root = Path(root).resolve() if root else find_course_root()
    path = root / CONFIG_FILE
    try:
        data = runpy.run_path(str(path))["COURSE"]
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except KeyError:
        raise ConfigError(f"{CONFIG_FILE}: defines no COURSE dictionary") from None
    except Exception as exc:  # a syntax error or similar in the config itself
        raise ConfigError(f"{CONFIG_FILE}: cannot be loaded: {type(exc).__name__}: {exc}") from None
    return _parse_course(root, data)


def _require(data: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise ConfigError(f"{CONFIG_FILE}: {where}{key}: missing")
    value = data[key]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{CONFIG_FILE}: {where}{key}: expected {names}, got {value!r}")
    return value


def _positive(data: dict, key: str, where: str) -> float:
    value = _require(data, key, (int, float), where)
    if value <= 0:
        raise ConfigError(f"{CONFIG_FILE}: {where}{key}: must be positive, got {value!r}")
    return value


def _parse_course(root: Path, data: Any) -> Course:
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE}: COURSE: expected a dict, got {type(data).__name__}")
    name = _require(data, "name", str, "")
    term = _require(data, "term", str, "")
    tz_name = _require(data, "timezone", str, "")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{CONFIG_FILE}: timezone: unknown time zone {tz_name!r}") from None
    salt = _require(data, "seed_salt", str, "")
    late = _require(data, "late_policy", dict, "")
    late_policy = LatePolicy(
        grace_minutes=_require(late, "grace_minutes", (int, float), "late_policy."),
        penalty_per_day=_require(late, "penalty_per_day", (int, float), "late_policy."),
        max_days_late=_require(late, "max_days_late", int, "late_policy."),
        unknown_time=_require(late, "unknown_time", str, "late_policy.")
        if "unknown_time" in late
        else LatePolicy.unknown_time,
    )
    if late_policy.unknown_time not in UNKNOWN_TIME_POLICIES:
        raise ConfigError(f"{CONFIG_FILE}: late_policy.unknown_time: must be one of "
                          f"{', '.join(UNKNOWN_TIME_POLICIES)}, got {late_policy.unknown_time!r}")
    if not 0 <= late_policy.penalty_per_day <= 1:
        raise ConfigError(f"{CONFIG_FILE}: late_policy.penalty_per_day: must be within [0, 1]")
    defaults = _require(data, "defaults", dict, "")
    labs_data = _require(data, "labs", list, "")
    labs: dict[str, Lab] = {}
    for index, lab_data in enumerate(labs_data):
        lab = _parse_lab(root, tz, {**defaults, **lab_data}, f"labs[{index}].")
        if lab.id in labs:
            raise ConfigError(f"{CONFIG_FILE}: labs[{index}].id: duplicate lab id {lab.id!r}")
        labs[lab.id] = lab
    extensions = _parse_extensions(data.get("extensions", {}), labs, tz)
    missing = _one_of(data, "missing_submission", MISSING_SUBMISSION_POLICIES,
                      Course.missing_submission, "")  # fmt: skip
    tas = _parse_tas(data.get("tas", {}))
    return Course(root, name, term, tz, salt, late_policy, labs, extensions, missing, tas)


def _parse_tas(data: Any) -> dict[str, str]:
    """`tas`: {name: "pbkdf2_sha256$<iterations>$<salt>$<hash>"} (`autograder ta-password`)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE}: tas: expected a dict of TA names to password hashes")
    for name, stored in data.items():
        parts = stored.split("$") if isinstance(stored, str) else []
        if not (isinstance(name, str) and name.strip()) or len(parts) != 4 \
                or parts[0] != "pbkdf2_sha256" or not parts[1].isdigit():
            raise ConfigError(f"{CONFIG_FILE}: tas.{name}: expected a password hash from "
                              "`autograder ta-password` (pbkdf2_sha256$...)")  # fmt: skip
    return dict(data)


def _parse_extensions(data: Any, labs: dict[str, Lab], tz: ZoneInfo) -> dict:
    """`extensions`: {lab id: {student id: "2026-10-20T23:59" (a later due date) or EXCUSED}}."""
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE}: extensions: expected a dict of labs, got {data!r}")
    parsed: dict[str, dict[str, datetime | str]] = {}
    for lab_id, students in data.items():
        if lab_id not in labs:
            raise ConfigError(f"{CONFIG_FILE}: extensions.{lab_id}: unknown lab")
        if not isinstance(students, dict):
            raise ConfigError(f"{CONFIG_FILE}: extensions.{lab_id}: expected a dict of students")
        parsed[lab_id] = {}
        for student, value in students.items():
            where = f"extensions.{lab_id}."
            if value == EXCUSED:
                parsed[lab_id][str(student)] = EXCUSED
            else:
                parsed[lab_id][str(student)] = _parse_date(students, student, tz, where)
    return parsed


def _parse_date(data: dict, key: str, tz: ZoneInfo, where: str) -> datetime:
    text = _require(data, key, str, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{CONFIG_FILE}: {where}{key}: {text!r} is not an ISO date like 2026-10-12T23:59"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _parse_tolerances(data: dict, where: str) -> dict[str, dict[str, Tolerance]]:
    table = _require(data, "tolerances", dict, where)
    parsed: dict[str, dict[str, Tolerance]] = {}
    for device in DEVICES:
        per_dtype = _require(table, device, dict, f"{where}tolerances.")
        parsed[device] = {}
        for dtype in DTYPES:
            here = f"{where}tolerances.{device}."
            entry = _require(per_dtype, dtype, dict, here)
            parsed[device][dtype] = Tolerance(
                rtol=_require(entry, "rtol", (int, float), f"{here}{dtype}."),
                atol=_require(entry, "atol", (int, float), f"{here}{dtype}."),
            )
    return parsed


LAB_KEYS = {
    "id", "title", "notebook", "release", "due", "points", "cell_timeout_s", "notebook_timeout_s",
    "test_timeout_s", "memory_mb", "skip_tags", "tolerances", "training_budget_s", "wall_factor",
    "max_reply_mb", "gradescope", "submissions_per_gpu", "constants", "cell_seed",
    "cell_seed_variable",
}  # fmt: skip


def _parse_lab(root: Path, tz: ZoneInfo, data: dict, where: str) -> Lab:
    unknown = sorted(set(data) - LAB_KEYS)
    if unknown:
        raise ConfigError(f"{CONFIG_FILE}: {where}{unknown[0]}: unknown setting (a typo?)")
    lab_id = _require(data, "id", str, where)
    if not lab_id.isidentifier():
        raise ConfigError(f"{CONFIG_FILE}: {where}id: {lab_id!r} must be a Python identifier")
    notebook = root / _require(data, "notebook", str, where)
    if not notebook.is_file():
        raise ConfigError(f"{CONFIG_FILE}: {where}notebook: {notebook} does not exist")
    release = _parse_date(data, "release", tz, where)
    due = _parse_date(data, "due", tz, where)
    if due <= release:
        raise ConfigError(
            f"{CONFIG_FILE}: {where}due: {due:%Y-%m-%d %H:%M} is not after the release date "
            f"{release:%Y-%m-%d %H:%M}"
        )
    skip_tags = _require(data, "skip_tags", list, where)
    if not all(isinstance(tag, str) for tag in skip_tags):
        raise ConfigError(f"{CONFIG_FILE}: {where}skip_tags: expected a list of strings")
    return Lab(
        id=lab_id,
        title=_require(data, "title", str, where),
        notebook=notebook,
        release=release,
        due=due,
        points=_positive(data, "points", where),
        cell_timeout_s=_positive(data, "cell_timeout_s", where),
        notebook_timeout_s=_positive(data, "notebook_timeout_s", where),
        test_timeout_s=_positive(data, "test_timeout_s", where),
        memory_mb=int(_positive(data, "memory_mb", where)),
        skip_tags=tuple(skip_tags),
        tolerances=_parse_tolerances(data, where),
        config_key=where.rstrip("."),
        training_budget_s=_positive(data, "training_budget_s", where)
        if "training_budget_s" in data
        else None,
        wall_factor=_at_least(data, "wall_factor", 1.0, Lab.wall_factor, where),
        max_reply_mb=_at_least(data, "max_reply_mb", 0.01, Lab.max_reply_mb, where),
        submissions_per_gpu=int(_at_least(data, "submissions_per_gpu", 1,
                                          Lab.submissions_per_gpu, where)),  # fmt: skip
        **_parse_gradescope(data.get("gradescope", {}), f"{where}gradescope."),
        constants=_parse_constants(data.get("constants", {}), f"{where}constants"),
        **_parse_cell_seed(data, where),
    )


def _parse_cell_seed(data: dict, where: str) -> dict[str, Any]:
    """`cell_seed` (a whole number) and `cell_seed_variable` (a name), both optional."""
    parsed: dict[str, Any] = {}
    if "cell_seed" in data:
        seed = data["cell_seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"{CONFIG_FILE}: {where}cell_seed: expected a whole number >= 0, "
                              f"got {seed!r}")  # fmt: skip
        parsed["cell_seed"] = seed
    if "cell_seed_variable" in data:
        variable = data["cell_seed_variable"]
        if not (isinstance(variable, str) and variable.isidentifier()):
            raise ConfigError(f"{CONFIG_FILE}: {where}cell_seed_variable: expected a Python "
                              f"name, got {variable!r}")  # fmt: skip
        if "cell_seed" not in data:
            raise ConfigError(f"{CONFIG_FILE}: {where}cell_seed_variable: needs a cell_seed")
        parsed["cell_seed_variable"] = variable
    return parsed


def _parse_constants(data: Any, where: str) -> dict[str, int | float | str]:
    """A lab's `constants`: names (identifiers) to numbers or strings."""
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE}: {where}: expected a dict of names to values, "
                          f"got {data!r}")
    for name, value in data.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise ConfigError(f"{CONFIG_FILE}: {where}: {name!r} is not a valid name")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{CONFIG_FILE}: {where}.{name}: expected a number or a string, "
                              f"got {value!r}")  # fmt: skip
    return dict(data)


def _one_of(data: dict, key: str, allowed: tuple[str, ...], default: str, where: str) -> str:
    """An optional text setting that must be one of `allowed`; `default` when absent."""
    if key not in data:
        return default
    value = _require(data, key, str, where)
    if value not in allowed:
        raise ConfigError(f"{CONFIG_FILE}: {where}{key}: must be one of {', '.join(allowed)}, "
                          f"got {value!r}")  # fmt: skip
    return value


def _parse_gradescope(data: Any, where: str) -> dict[str, Any]:
    """A lab's `gradescope` settings: {"visibility": ..., "questions": {question: visibility},
    "memory_mb": the assignment's container memory on Gradescope}."""
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE}: {where.rstrip('.')}: expected a dict, got {data!r}")
    unknown = sorted(set(data) - {"visibility", "questions", "memory_mb"})
    if unknown:
        raise ConfigError(f"{CONFIG_FILE}: {where}{unknown[0]}: unknown setting (a typo?)")
    questions = data.get("questions", {})
    if not isinstance(questions, dict):
        raise ConfigError(f"{CONFIG_FILE}: {where}questions: expected a dict of question names")
    return {
        "gradescope_memory_mb": int(_at_least(data, "memory_mb", 256, Lab.gradescope_memory_mb,
                                              where)),  # fmt: skip
        "gradescope_visibility": _one_of(data, "visibility", GRADESCOPE_VISIBILITIES,
                                         Lab.gradescope_visibility, where),
        "gradescope_question_visibility": {
            str(name): _one_of(questions, name, GRADESCOPE_VISIBILITIES, "", f"{where}questions.")
            for name in questions
        },
    }  # fmt: skip


def _at_least(data: dict, key: str, low: float, default: float, where: str) -> float:
    """An optional number setting, `default` when absent, refused below `low`."""
    if key not in data:
        return default
    value = _require(data, key, (int, float), where)
    if value < low:
        raise ConfigError(f"{CONFIG_FILE}: {where}{key}: must be at least {low:g}, got {value!r}")
    return float(value)
