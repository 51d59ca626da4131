"""Starting the sandbox's server under bubblewrap: the command line, and whether it works here.

The server sees a read-only view of the system (/usr, /etc), the Python installation and the
virtual environment under the names the interpreter reads them by (`interpreter_paths`), the
`autograder` and `courselib` packages, a private size-bounded /tmp, and on CUDA its own GPU; it
keeps only the capabilities it needs to confine its children (`confine.SERVER_CAPABILITIES`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from autograder.sandbox.confine import SERVER_CAPABILITIES

TMP_BYTES = 512 * 2**20  # the server's private /tmp


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve()
    return Path(spec.origin).resolve().parent if spec.origin else None


def _symlink_hops(path: Path) -> list[Path]:
    """`path` and every path its symlinks lead through, unresolved and resolved."""
    hops, seen = [Path(os.path.abspath(path))], set()
    while hops[-1].is_symlink() and hops[-1] not in seen and len(hops) < 40:
        seen.add(hops[-1])
        hops.append(Path(os.path.abspath(hops[-1].parent / os.readlink(hops[-1]))))
    return [*hops, path.resolve()]


@cache
def interpreter_paths() -> tuple[Path, ...]:
    """The folders and files the sandbox's interpreter reads, under the names it reads them by.

    A virtual environment reached through a symlink, a Python home that is a symlink (pyenv,
    conda) or site-packages added by a .pth file are read under their unresolved names (the
    venv's `python` links to `home`, pyvenv.cfg names it): each is bound under both names.
    Folders that a .pth adds from a checkout (an editable install) are not bound whole, since a
    checkout may hold a course's tests/: only its `autograder` and `courselib` packages are.
    """
    prefixes = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    config = Path(sys.prefix) / "pyvenv.cfg"
    if config.is_file():
        for line in config.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                prefixes.add(Path(value.strip()).parent)
    paths: list[Path] = []
    for prefix in sorted(prefixes):
        paths += _symlink_hops(prefix)
    paths += _symlink_hops(Path(sys.executable))
    for entry in sys.path:
        if entry and Path(entry).is_dir() and Path(entry).name in ("site-packages",
                                                                   "dist-packages"):
            paths += _symlink_hops(Path(entry))
    paths += [path for path in (_package_dir("autograder"), _package_dir("courselib")) if path]
    # folders before the files and folders inside them: one bind covers what lies below
    return tuple(sorted(dict.fromkeys(paths), key=lambda path: len(path.parts)))


def gpu_index(slot: int) -> int:
    """The GPU a sandbox of `slot` gets: one each, round robin over the machine's GPUs."""
    count = len([node for node in Path("/dev").glob("nvidia[0-9]*")])
    return slot % count if count else 0


def bwrap_command(device: str, slot: int = 0) -> list[str]:
    command = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session"]  # fmt: skip
    if os.getuid() != 0:
        command.append("--unshare-user")
    # The server keeps what it needs to give each submission namespaces of its own and to drop
    # it to the sandbox uid (confine.SERVER_CAPABILITIES), nothing else.
    command.extend(["--cap-drop", "ALL"])
    for capability in SERVER_CAPABILITIES:
        command.extend(["--cap-add", capability])
    # The private /tmp comes first: a course or virtual environment that itself lives under /tmp
    # is then bound on top of it instead of being hidden by it.
    command.extend(["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"])
    made: set[str] = {"/", "/tmp"}

    def parents(path: Path) -> None:
        for parent in reversed(path.parents):
            text = str(parent)
            if text not in made and text not in ("/usr", "/etc"):
                made.add(text)
                command.extend(["--perms", "0755", "--dir", text])

    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command.extend(["--symlink", os.readlink(top), top])
        elif os.path.isdir(top):
            command.extend(["--ro-bind", top, top])
    command.extend(["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"])
    bound: list[Path] = []
    for path in interpreter_paths():
        if str(path).startswith(("/usr/", "/etc/")) or any(
            path == done or done in path.parents for done in bound
        ):
            continue
        parents(path)
        made.add(str(path))
        bound.append(path)
        command.extend(["--ro-bind", str(path), str(path)])
    mpl_cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    if mpl_cache.is_dir():
        command.extend(["--perms", "0755", "--dir", "/opt", "--ro-bind", str(mpl_cache),
                        "/opt/mplcache"])  # fmt: skip
    command.extend(["--dev", "/dev", "--proc", "/proc", "--chdir", "/tmp"])
    if device.startswith("cuda"):
        # the driver's control nodes and this sandbox's GPU only (CUDA_VISIBLE_DEVICES matches)
        nodes = [f"/dev/nvidia{gpu_index(slot)}", "/dev/nvidiactl", "/dev/nvidia-uvm",
                 "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]  # fmt: skip
        for node in nodes:
            command.extend(["--dev-bind-try", node, node])
        command.extend(["--ro-bind-try", "/sys", "/sys",
                        "--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"])  # fmt: skip
    return command


# What every submission's child does under bubblewrap (see autograder.sandbox.worker.Namespaces)
NAMESPACE_PROBE = """
import os
from autograder.sandbox import confine
confine.new_namespaces()
child = os.fork()
if child == 0:
    confine.private_filesystems(2**20, 2**20)
    confine.loopback_up()
    os._exit(0)
print("ok" if os.waitpid(child, 0)[1] == 0 else "no")
"""


@cache
def bwrap_works() -> bool:
    """True when bubblewrap is installed and can build our sandbox on this machine, namespaces of
    each submission's own included."""
    if not shutil.which("bwrap"):
        return False
    try:
        done = subprocess.run(
            [*bwrap_command("cpu"), sys.executable, "-I", "-c", NAMESPACE_PROBE],
            capture_output=True, timeout=60, text=True,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        _debug(f"bwrap does not work here ({error}); the sandbox runs with limits only")
        return False
    if done.returncode == 0 and done.stdout.strip() == "ok":
        return True
    _debug(f"bwrap does not work here ({done.stderr.strip()[-500:] or 'no message'}); the "
           "sandbox runs with limits only")
    return False


def _debug(line: str) -> None:
    if os.environ.get("AUTOGRADER_SANDBOX_DEBUG"):
        print(f"autograder sandbox: {line}", file=sys.stderr, flush=True)


def isolation() -> str:
    """ "bwrap" or "limits only" (no bubblewrap: resource limits without filesystem isolation)."""
    if os.environ.get("AUTOGRADER_NO_BWRAP"):
        return "limits only"
    return "bwrap" if bwrap_works() else "limits only"
