"""A small seeded run of the fault campaign (tests/benchmarks/faults.py): real SIGKILLs of
the real CLI, corrupted stores and (as root) a full tmpfs, each followed by the verifier.
The full campaign and its figures are in BENCHMARKS.md, section 10."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.benchmarks import fault_report, faults

pytestmark = pytest.mark.slow  # the CLI and the verifier load the embedding model


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("fault-results")
    work = tmp_path_factory.mktemp("fault-work")
    argv = ["--quick", "--seed", "20261201", "--out", str(out), "--work", str(work / "w")]
    argv += ["--parts", "kills", "corruption", "disk_full", "--no-report"]
    assert faults.main(argv) == 0
    data: dict[str, Any] = json.loads((out / "faults.json").read_text())
    return data


def test_quick_campaign_kills_corrupts_and_verifies_without_harness_errors(
    campaign: dict[str, Any],
) -> None:
    h = campaign["headline"]
    assert h["harness_errors"] == 0, campaign["tally"]["examples"].get("harness_errors")
    assert h["kills_sent"] >= 2
    assert h["corruptions_tried"] == 3  # one per store: vectors, tantivy, catalog
    assert h["kills_survived"] <= h["kills_sent"]
    assert h["corruptions_repaired"] <= h["corruptions_detected"] <= h["corruptions_tried"]
    runs = campaign["parts"]["kills"]["runs"]
    assert sum(r["killed"] for r in runs) == h["kills_sent"]
    assert campaign["tally"]["counts"]["tokens_checked"] > 0
    assert campaign["tally"]["counts"]["vectors_checked"] > 0
    assert campaign["seed"] == 20261201


def test_quick_campaign_finds_no_lost_files_ghosts_wrong_vectors_or_crashes(
    campaign: dict[str, Any],
) -> None:
    h = campaign["headline"]
    found = {k: h[k] for k in ("files_lost", "ghosts", "wrong_vectors", "process_crashes")}
    assert found == dict.fromkeys(found, 0), campaign["tally"]["examples"]


def test_report_section_shows_the_headline(campaign: dict[str, Any]) -> None:
    text = fault_report.section(campaign)
    assert text.startswith(fault_report.TITLE)
    assert f"seed {campaign['seed']}" in text
    assert f"of {campaign['headline']['kills_sent']}" in text
    assert fault_report.section(None).startswith(fault_report.TITLE)
