"""CPU time and memory of a server's process tree, read from /proc (Linux)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    """Resident set sizes of one process, in bytes: now and peak since the last reset."""

    rss: int
    peak: int


def _stat_fields(pid: int) -> list[str]:
    text = (PROC / str(pid) / "stat").read_text()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of `pids`, in seconds (exited processes count 0)."""
    ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def memory_if_alive(pid: int) -> Memory | None:
    """None when the process is gone (uvicorn replaces a worker that stops answering)."""
    try:
        return memory(pid)
    except OSError:
        return None


def memory(pid: int) -> Memory:
    values: dict[str, int] = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return Memory(rss=values["VmRSS"], peak=values["VmHWM"])


def reset_peak(pid: int) -> None:
    """Start a new peak-RSS measurement for `pid` (writing 5 to clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):
        (PROC / str(pid) / "clear_refs").write_text("5")


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, not idle or waiting), in seconds."""
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
