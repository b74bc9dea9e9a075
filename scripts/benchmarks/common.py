"""What every benchmark shares: repetitions, medians, ratios, machine facts, the results file.

Each benchmark measures its own ceiling in the same run and reports the
ratio; absolute numbers are printed too. A run is a warm-up, then a fixed
measured window, three times; the median is reported. `smoke` runs shrink
every size so the suite can check that nothing has rotted, in seconds.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import mmap
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

RESULTS = Path(os.environ.get("RECEIVER_BENCH_RESULTS", "bench-results.json"))

T = TypeVar("T")


def event_loop_runner() -> tuple[str, Callable[[Coroutine[Any, Any, T]], T]]:
    """The service's loop: uvicorn picks uvloop when it is installed, so do we."""
    try:
        import uvloop
    except ImportError:
        return "asyncio", asyncio.run
    return "uvloop", uvloop.run


@dataclass
class Options:
    smoke: bool = False
    repeat: int = 3
    seconds: float = 10.0  # measured window per repetition
    warmup: float = 2.0

    @classmethod
    def for_run(cls, smoke: bool) -> Options:
        return cls(smoke=True, repeat=1, seconds=1.0, warmup=0.2) if smoke else cls()


@dataclass
class Result:
    bench: str
    title: str
    figures: dict[str, float]  # the medians that count, by name
    runs: list[dict[str, float]]  # every repetition, for the record
    target: str
    met: bool
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def show(self) -> str:
        lines = [
            f"{self.bench} {self.title}: {'target met' if self.met else 'TARGET NOT MET'} ({self.target})"
        ]
        lines += [f"  {name:<28} {_fmt(value)}" for name, value in self.figures.items()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"


def median_of(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def repeat(options: Options, once: Callable[[], dict[str, float]]) -> list[dict[str, float]]:
    return [once() for _ in range(options.repeat)]


def machine() -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def steal_ticks() -> list[int]:
    """Per core, the time the host ran something else while this VM's core wanted to run
    (steal, in clock ticks, from /proc/stat); empty where there is no such file."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return []
    return [
        int(fields[8])
        for fields in (line.split() for line in lines)
        if fields and fields[0].startswith("cpu") and fields[0] != "cpu" and len(fields) > 8
    ]


def steal_percent(before: list[int], after: list[int], seconds: float, core: int) -> float:
    """The share of `seconds` the host took from `core` between two `steal_ticks()`."""
    if core >= min(len(before), len(after)) or seconds <= 0:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return 100.0 * (after[core] - before[core]) / ticks / seconds


def resident_fraction(path: Path) -> float | None:
    """How much of a file is in the page cache now (util-linux `fincore`), or None
    where that cannot be told."""
    tool = shutil.which("fincore")
    if tool is None:
        return None
    try:
        out = run_quiet([tool, "--bytes", "--noheadings", "--raw", "--output", "RES", str(path)])
        size = path.stat().st_size
        return min(1.0, int(out.stdout.split()[0]) / size) if size else 1.0  # whole pages
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


@contextmanager
def held_in_memory(paths: Sequence[Path]) -> Iterator[bool]:
    """Keep the files' pages in the page cache while inside (`mlock` on a read-only
    shared mapping: the kernel reads in what is missing and may not reclaim the rest),
    and say whether it could. A VM's host may reclaim clean page cache however much
    memory is free (B6 measured ~3 % of a 3.9 GB file per 30 s); a dedicated server
    keeps a database it reads in memory. Needs Linux and CAP_IPC_LOCK or a big enough
    RLIMIT_MEMLOCK; without them nothing is held and the answer is False."""
    libc = _libc()
    held: list[tuple[int, int]] = []  # the mappings made, to undo
    locked = libc is not None
    try:
        for path in paths:
            locked = locked and _lock(libc, path, held)
        yield locked
    finally:
        for address, size in held:
            libc.munmap(address, size)  # unlocks too


def _lock(libc: Any, path: Path, held: list[tuple[int, int]]) -> bool:
    size = path.stat().st_size
    if size == 0:
        return True
    with path.open("rb") as file:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, file.fileno(), 0)
    if address is None or address == ctypes.c_void_p(-1).value:
        return False
    held.append((address, size))
    return bool(libc.mlock(address, size) == 0)


def _libc() -> Any:
    """The C library with mmap, mlock and munmap typed, or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


def pin(core: int) -> list[str]:
    """A command prefix pinning a process to one core, when there are two or more."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def record(result: Result) -> None:
    """Add the result to the results file (one JSON object, newest result per bench)."""
    data: dict[str, Any] = {}
    if RESULTS.exists():
        data = json.loads(RESULTS.read_text())
    data["machine"] = machine()  # the machine of the latest run; each result has its time
    entry = asdict(result)
    entry["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data.setdefault("results", {})[result.bench] = entry
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def run_quiet(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kwargs)
