"""The processes a process started, and theirs, read from /proc (Linux)."""

from __future__ import annotations

import os


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after "pid (name) ": state, parent, ... (None: gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def parents(living_only: bool = True) -> dict[int, int]:
    """pid -> parent pid, for every process this /proc shows (zombies left out, unless not
    `living_only`)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields and len(fields) > 1 and not (living_only and fields[0] == "Z"):
                table[int(entry)] = int(fields[1])
    return table


def descendants(root: int, table: dict[int, int] | None = None) -> list[int]:
    """The running descendants of `root` (or those `table` holds), parents before their
    children; `root` itself is not one."""
    table = parents() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, parent in table.items():
        children.setdefault(parent, []).append(pid)
    found, queue = [], list(children.get(root, []))
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue += children.get(pid, [])
    return found
