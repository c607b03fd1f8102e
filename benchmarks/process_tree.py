"""A process tree's peak resident memory and CPU time, sampled from /proc (Linux).

Used by bench_spark.py: a Spark child is a Python driver, its JVM (which in local mode also
hosts the executors) and the executors' Python workers (children of the JVM). getrusage of
children misses the grandchildren nobody waited for (the JVM, its workers), so CPU time is
summed here from each process's own utime + stime, last seen (a process that lives less than
one sampling period is missed: the figure is a lower bound).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
_TICKS = os.sysconf("SC_CLK_TCK")


def snapshot() -> dict[int, tuple[int, float, float, str]]:
    """pid -> (parent pid, RSS MB, own CPU seconds, executable) of every process readable in /proc."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except (OSError, IndexError):
            continue
        cpu = (int(stat[11]) + int(stat[12])) / _TICKS
        procs[int(entry)] = (int(stat[1]), int(stat[21]) * _PAGE_MB, cpu, cmd)
    return procs


def descendants(root: int, procs: dict[int, tuple[int, float, float, str]]) -> set[int]:
    """root and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _, _) in procs.items():
        children.setdefault(parent, []).append(pid)
    tree, frontier = {root}, [root]
    while frontier:
        for kid in children.get(frontier.pop(), []):
            if kid not in tree:
                tree.add(kid)
                frontier.append(kid)
    return tree


class ProcessTree(threading.Thread):
    """Samples the tree under `root` every `every` seconds: peak RSS (MB) of the whole tree, of the
    driver (root + JVM), of the JVM alone and of the Python workers; CPU seconds of the tree."""

    def __init__(self, root: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.peak = {"tree": 0.0, "driver": 0.0, "jvm": 0.0, "python_workers": 0.0}
        self.current = dict(self.peak)
        self._cpu: dict[int, float] = {}
        self.done = threading.Event()

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def sample(self) -> None:
        procs = snapshot()
        tree = [p for p in descendants(self.root, procs) if p in procs]
        for pid in tree:
            self._cpu[pid] = max(self._cpu.get(pid, 0.0), procs[pid][2])
        rss = {p: procs[p][1] for p in tree}
        jvm = sum(v for p, v in rss.items() if procs[p][3].endswith("java"))
        workers = sum(v for p, v in rss.items() if p != self.root and not procs[p][3].endswith("java"))
        self.current = {"tree": sum(rss.values()), "driver": rss.get(self.root, 0.0) + jvm, "jvm": jvm,
                        "python_workers": workers}
        for key, value in self.current.items():
            self.peak[key] = max(self.peak[key], value)
