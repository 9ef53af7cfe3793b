"""A small seeded run of the fault campaign (tests/benchmarks/faults.py): real SIGKILLs of
the real CLI, corrupted stores and (as root) a full tmpfs, each followed by the verifier.
The full campaign and its figures are in BENCHMARKS.md, section 10."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import Settings
from tests.benchmarks import fault_damage, fault_report, fault_worker, faults
from tests.benchmarks.workspace import home_paths

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
    # One per store (vectors, tantivy, catalog), then the catalog emptied and deleted.
    assert h["corruptions_tried"] == 3 + len(fault_damage.CATALOG_LOSSES)
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


def test_an_emptied_or_deleted_catalog_is_detected_and_repaired(campaign: dict[str, Any]) -> None:
    trials = campaign["parts"]["corruption"]["trials"]
    losses = [
        t for t in trials if t["store"] == "catalog" and t["how"] in fault_damage.CATALOG_LOSSES
    ]
    assert [t["how"] for t in losses] == list(fault_damage.CATALOG_LOSSES)
    assert all(t["repaired"] and "codanna-desktop repair" in t["said"] for t in losses), losses


def test_report_section_shows_the_headline(campaign: dict[str, Any]) -> None:
    text = fault_report.section(campaign)
    assert text.startswith(fault_report.TITLE)
    assert f"seed {campaign['seed']}" in text
    assert f"of {campaign['headline']['kills_sent']}" in text
    assert fault_report.section(None).startswith(fault_report.TITLE)


def test_the_verifier_tells_a_damaged_cached_vector_from_a_missing_one(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "upload.py").write_text("def upload_again(item):\n    return item.send()\n")
    paths = home_paths(tmp_path / "home")
    engine = Engine(paths, Settings(), embedder=embedder)
    try:
        engine.add_root(root)
        engine.index()
    finally:
        engine.close()
    # A flipped exponent bit in one model's cached vector, as a page flip in the catalog
    # leaves it: the indexer refuses it (not unit length), the stored vector is intact.
    db = sqlite3.connect(paths.data_dir / "catalog.sqlite")
    model_id, text_hash, blob = db.execute(
        "SELECT model_id, text_hash, vector FROM embeddings LIMIT 1"
    ).fetchone()
    damaged = bytearray(blob)
    damaged[3] ^= 0x20
    db.execute(
        "UPDATE embeddings SET vector = ? WHERE model_id = ? AND text_hash = ?",
        (bytes(damaged), model_id, text_hash),
    )
    db.commit()
    db.close()
    monkeypatch.setattr(fault_worker, "_embedder", embedder)
    home = str(tmp_path / "home")
    out = fault_worker.verify({"home": home, "root": str(root.resolve()), "live": {}, "dead": []})
    assert out["ok"], out
    assert out.get("cache_lost") == 1, out
    assert not out.get("missing_vectors") and not out.get("wrong_vectors"), out
