"""What the benchmarks read about the host beside their own figures: the CPU time the
hypervisor took from each core (steal) and how much of a file the page cache holds."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from benchmarks.common import held_in_memory, resident_fraction, steal_percent, steal_ticks


def test_steal_is_the_share_of_the_window_the_host_took_from_that_core() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    before, after = [10, 20], [10 + ticks // 2, 20]  # half a second taken from core 0
    assert steal_percent(before, after, 2.0, 0) == pytest.approx(25.0)
    assert steal_percent(before, after, 2.0, 1) == 0.0
    assert steal_percent(before, after, 2.0, 5) == 0.0  # a core /proc/stat did not list
    assert steal_percent([], [], 2.0, 0) == 0.0  # no /proc/stat: nothing known


def test_steal_ticks_has_one_count_per_core_and_never_goes_back() -> None:
    first = steal_ticks()
    second = steal_ticks()
    if Path("/proc/stat").exists():
        assert len(first) == len(second) == os.cpu_count()
    assert all(b >= a >= 0 for a, b in zip(first, second, strict=True))


def test_a_file_just_written_and_read_is_in_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(os.urandom(256 * 1024))
    assert path.read_bytes()
    share = resident_fraction(path)
    if shutil.which("fincore") is None:  # util-linux's tool; Debian always has it
        assert share is None
    else:
        assert share == pytest.approx(1.0, abs=0.05)


def test_the_page_cache_share_is_unknown_without_fincore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "data"
    path.write_bytes(b"x" * 4096)
    assert resident_fraction(path) is None


def _locked_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    return 0


def test_files_are_held_in_memory_while_inside_and_let_go_after(tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b", tmp_path / "empty"]
    files[0].write_bytes(os.urandom(64 * 1024))
    files[1].write_bytes(os.urandom(32 * 1024))
    files[2].write_bytes(b"")
    if not sys.platform.startswith("linux"):
        with held_in_memory(files) as held:
            assert held is False
        return
    before = _locked_kib()
    with held_in_memory(files) as held:
        assert held is True
        assert _locked_kib() - before == 96
        assert all(resident_fraction(path) in (None, 1.0) for path in files[:2])
    assert _locked_kib() == before
