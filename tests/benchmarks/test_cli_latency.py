"""The command line's latency benchmark (cli_latency.py), end to end on two small files:
that it runs every phase and that each command imports what it should (no timing is
asserted; the real run is BENCHMARKS.md §14). Beside test_smoke.py, in a file of its own."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from tests.benchmarks import cli_latency
from tests.benchmarks.workspace import stdlib_dir

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.slow  # the app and `watch` each load the model to answer the hybrid search
def test_every_phase_runs_and_a_handed_search_imports_nothing_heavy(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("bisect", "sched"):
        shutil.copy2(stdlib_dir() / f"{name}.py", source / f"{name}.py")
    result = cli_latency.run(1, tmp_path / "work", None, source, lexical_query="insort_left")

    assert result["corpus"]["files"] == 2
    phases = result["phases"]
    assert set(phases) == {"no server", "app", "watch"}
    for phase in phases.values():
        assert "error" not in phase, phase
        for command in phase["commands"].values():
            assert command["p50_ms"] > 0 and command["cpu_p50_ms"] >= 0
    alone = phases["no server"]["commands"]
    assert alone["search --alpha 0 [after]"]["heavy"] == ["tantivy"]
    assert "fastembed" in alone["search (hybrid) [after]"]["heavy"]
    for served in ("app", "watch"):
        for name in ("search --alpha 0 [after]", "search (hybrid) [after]"):
            assert phases[served]["commands"][name]["heavy"] == []
