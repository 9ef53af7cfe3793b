"""Every benchmark, run end to end on a tiny subset: that it works and its results hold
together (correctness only; no timing is asserted). The real runs are in BENCHMARKS.md."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codanna_desktop.core.semantic.embedder import BGE_ID, COSINE_SPREAD, MINILM_ID
from tests.benchmarks import (
    cosqa,
    exact,
    folder_move,
    freshness,
    identifiers,
    idle_wakeups,
    model_weights,
    projects,
    report,
    ripgrep,
    speed,
    tuning,
    watcher_load,
)
from tests.benchmarks.workspace import COSQA_DIR, paired, stdlib_dir

TINY_MODULES = ["bisect", "sched"]


def load(out: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    return data


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="module")
def tiny_stdlib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small standard-library modules, standing in for the whole tree."""
    root = tmp_path_factory.mktemp("stdlib")
    for name in TINY_MODULES:
        shutil.copy2(stdlib_dir() / f"{name}.py", root / f"{name}.py")
    return root


@pytest.fixture(scope="module")
def relevance_runs(out: Path, work: Path, tiny_stdlib: Path) -> Path:
    """The CoSQA and identifier benchmarks on tiny subsets (tuning needs both). The tests
    that need them skip where the CoSQA folder (../shared/bench/cosqa) is not beside the
    checkout; the others run anywhere."""
    if not (COSQA_DIR / "corpus.jsonl").exists():
        pytest.skip(f"the CoSQA benchmark folder is missing ({COSQA_DIR})")
    assert (
        cosqa.main(
            [
                "--limit-queries",
                "3",
                "--extra-docs",
                "5",
                "--rules",
                "minmax",
                "rrf",
                "--depths",
                "100",
                "--work",
                str(work / "cosqa"),
                "--out",
                str(out),
                "--no-report",
            ]
        )
        == 0
    )
    assert (
        identifiers.main(
            [
                "--stdlib",
                str(tiny_stdlib),
                "--modules",
                *TINY_MODULES,
                "--packages",
                "--per-form",
                "3",
                "--rules",
                "minmax",
                "--depths",
                "100",
                "--work",
                str(work / "identifiers"),
                "--out",
                str(out),
                "--no-report",
            ]
        )
        == 0
    )
    return out


def test_cosqa_run_is_scored_by_eval_py_and_the_batch_cli_agrees(relevance_runs: Path) -> None:
    result = load(relevance_runs, "cosqa")
    assert result["corpus"]["queries"] == 3
    assert list(result["headline"]) == [f"{a / 10:.1f}" for a in range(11)]
    for metrics in [*result["headline"].values(), *result["grid"].values()]:
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # Eight documents, a hundred candidates: semantic only ranks every answer in the top 10.
    assert result["headline"]["1.0"]["Recall@10"] == 1.0
    assert len(result["grid"]) == 2 * 11
    assert result["cli_batch"]["agrees_with_in_process"] is True


def test_identifier_queries_each_have_a_defining_chunk(relevance_runs: Path) -> None:
    result = load(relevance_runs, "identifiers")
    assert result["queries"] > 0
    assert result["queries_without_relevant_chunk"] == []
    lexical = result["grid"]["minmax/100/0.0"]
    assert lexical["MRR@10"] > 0.5
    assert set(lexical["by_group"]) >= {"form:single", "form:dotted"}


def test_bge_small_s_cosines_spread_less_than_minilm_s_as_the_query_weights_assume(
    relevance_runs: Path, work: Path
) -> None:
    found = model_weights.spreads(work / "identifiers" / "home", (MINILM_ID, BGE_ID), min_texts=5)
    minilm, bge = found[MINILM_ID], found[BGE_ID]
    assert 0.0 < bge["std"] < minilm["std"]
    assert bge["mean"] > minilm["mean"]
    assert COSINE_SPREAD[BGE_ID] < COSINE_SPREAD[MINILM_ID]


def test_tuning_compares_changes_on_both_benchmarks(relevance_runs: Path, work: Path) -> None:
    assert (
        tuning.main(
            [
                "--cosqa-work",
                str(work / "cosqa"),
                "--ident-work",
                str(work / "identifiers"),
                "--per-form",
                "3",
                "--limit-queries",
                "3",
                "--work",
                str(work / "tuning"),
                "--out",
                str(relevance_runs),
                "--embedding-variants",
                "--no-report",
            ]
        )
        == 0
    )
    result = load(relevance_runs, "tuning")
    assert set(result["boosts"]) >= {"original_lexical_only", "tuned_lexical_only"}
    assert set(result["auto_weight"]["on"]) >= {"0.0", "0.9", "1.0"}
    # The weight at the ends of the slider is the same whether the query is read or not.
    for end in ("0.0", "1.0"):
        assert result["auto_weight"]["on"][end] == result["auto_weight"]["off"][end]
    assert result["embedding_input"]["chunk text (today)"]["MRR@10_alpha_1.0"] >= 0.0
    assert "default" in result["defaults"]
    names = result["defined_names"]
    assert {"without defined names", "defined names for lookups (kept)"} <= set(names)
    assert sum(c["queries"] for c in result["side_disagreement"].values()) <= 3
    for row in result["reference_bm25_fusion"].values():
        assert 0.0 <= row["reference"] <= 1.0 and 0.0 <= row["app"] <= 1.0
    feedback = result["agreement_feedback"]
    assert feedback["queries"] == 3 and 0 <= feedback["queries_with_agreement"] <= 3
    # Without feedback the fused figure is the plain hybrid's, as in the weight table.
    plain = result["auto_weight"]["off"]["0.8"]["cosqa_MRR@10"]
    assert feedback["none"]["0.8"] == pytest.approx(plain, abs=1e-4)
    # The app's own rule in the fixed-floor comparison reproduces the app's search.
    floors = result["fixed_floor_fusion"]
    app = result["auto_weight"]["on"]["0.8"]
    assert floors["per-query min-max (app)"]["0.80"] == pytest.approx(
        {"cosqa_MRR@10": app["cosqa_MRR@10"], "ident_success@1": app["ident_success@1"]}, abs=1e-4
    )
    assert len(floors) == 3


def test_lexical_search_finds_every_file_ripgrep_finds(
    out: Path, work: Path, tiny_stdlib: Path
) -> None:
    if shutil.which("rg") is None:
        pytest.skip("ripgrep is not installed")
    args = ["--root", str(tiny_stdlib), "--names", "6", "--work", str(work / "rg")]
    assert ripgrep.main([*args, "--out", str(out), "--no-report"]) == 0
    result = load(out, "ripgrep")
    assert result["names"] == 6
    assert result["rg_file_hits"] >= 6
    assert result["recall"] == 1.0


def test_exact_search_gives_ripgrep_lines_on_a_tiny_tree(
    out: Path, work: Path, tiny_stdlib: Path
) -> None:
    if shutil.which("rg") is None:
        pytest.skip("ripgrep is not installed")
    args = ["--root", str(tiny_stdlib), "--work", str(work / "exact"), "--cli-patterns", "2"]
    args += ["--reps", "1"]
    assert exact.main([*args, "--out", str(out), "--no-report"]) == 0
    result = load(out, "exact")
    assert result["patterns"] >= 100
    assert result["same_lines"] == result["patterns"], result["differences_by_reason"]
    tree = result["per_tree"][0]
    assert tree["app_warm"]["n"] == result["patterns"] and tree["cli"]["n"] == 2
    assert result["cost"]["with_content_index"]["files"] == tree["files"]
    assert all(q["answer_s"] < 120 for q in result["window"]["queries"])


def test_speed_run_re_embeds_only_edited_chunks(out: Path, work: Path, tiny_stdlib: Path) -> None:
    assert (
        speed.main(
            [
                "--stdlib",
                str(tiny_stdlib),
                "--modules",
                *TINY_MODULES,
                "--packages",
                "--seed-home",
                str(work / "no-seed"),
                "--reps",
                "1",
                "--queries",
                "6",
                "--embed-chunks",
                "5",
                "--work",
                str(work / "speed"),
                "--out",
                str(out),
                "--no-report",
            ]
        )
        == 0
    )
    result = load(out, "speed")
    lexical = result["lexical_indexing"]
    assert len(lexical["reading_on_threads_s_runs"]) == len(lexical["seconds_runs"]) == 1
    re = result["reindexing"]
    assert re["unchanged"]["chunks_embedded"] == [0]
    assert re["unchanged_full_reread"]["chunks_embedded"] == [0]
    assert re["touched_10"]["chunks_embedded"] == 0
    assert 1 <= re["edited_10"]["chunks_embedded"] <= 2 * len(TINY_MODULES)
    assert re["restored"]["chunks_embedded"] == 0
    sizes = result["sizes"]
    assert sizes["pgvector_rows"] == sizes["chunks"] == re["chunks"]
    assert sizes["tantivy_bytes"] > 0 and sizes["hnswlib_bytes"] > 0
    latency = result["query_latency"]
    assert latency["hnswlib"]["hybrid"]["n_per_pass"] == latency["pgvector"]["hybrid"]["n_per_pass"]


def test_freshness_finds_every_edit(out: Path, work: Path, tiny_stdlib: Path) -> None:
    args = ["--stdlib", str(tiny_stdlib), "--modules", *TINY_MODULES, "--packages"]
    args += ["--seed-home", str(work / "no-seed"), "--files", "2", "--edits", "2"]
    assert (
        freshness.main([*args, "--work", str(work / "fresh"), "--out", str(out), "--no-report"])
        == 0
    )
    result = load(out, "freshness")
    assert result["timeouts"] == 0
    assert result["write_to_lexical"]["n"] == result["write_to_semantic"]["n"] == 2


def test_watcher_load_times_each_indexer_and_counts_overflows(
    out: Path, work: Path, tiny_stdlib: Path
) -> None:
    args = ["--tree", str(tiny_stdlib), "--work", str(work / "wl"), "--out", str(out)]
    assert watcher_load.main([*args, "--runs", "1", "--no-report"]) == 0
    summary = load(out, "watcher_load")["summary"]
    assert list(summary) == list(watcher_load.CONFIGS)
    files = {v["files"] for v in summary.values()}
    assert len(files) == 1 and files.pop() == len(list(tiny_stdlib.rglob("*.py")))
    assert summary["watcher, content events only"]["overflows_per_run"] == [0]


def test_folder_move_times_each_way_and_finds_the_files_at_their_new_path(
    out: Path, work: Path, tiny_stdlib: Path
) -> None:
    args = ["--tree", str(tiny_stdlib), "--work", str(work / "fm"), "--out", str(out)]
    assert folder_move.main([*args, "--repeats", "1", "--sizes", "1:1"]) == 0
    (run,) = load(out, "folder_move")["runs"]
    assert list(run["median_s"]) == list(folder_move.WAYS)
    assert all(len(times) == 1 for times in run["seconds"].values())


def test_idle_wakeups_counts_the_idle_apps_threads_and_sigterm_ends_it(out: Path) -> None:
    assert idle_wakeups.main(["--seconds", "1", "--runs", "1", "--out", str(out)]) == 0
    runs = load(out, "idle_wakeups")["all_runs"]["this"]
    for state in ("shown", "hidden"):
        (run,) = runs[state]
        assert run["exit_code_after_sigterm"] == 0
        total = sum(t["wakeups_per_s"] for t in run["threads"])
        assert run["wakeups_per_s"] == pytest.approx(total)
        assert all(t["thread"] for t in run["threads"])


def test_report_renders_every_section_and_keeps_the_desktop_text(
    out: Path, relevance_runs: Path
) -> None:
    markdown = report.refresh(out)
    text = markdown.read_text()
    headings = (
        "## 1. CoSQA",
        "## 2. Identifier",
        "## 3. Fusion",
        "## 8. Desktop",
        "### The watcher",
    )
    for heading in headings:
        assert heading in text
    assert (out / "cosqa_alpha.png").stat().st_size > 0
    edited = text.replace(report.DESKTOP_PENDING, "Cold start 0.9 s (measured by hand).")
    hand_written = "## 12. Written by hand\n\nA figure no JSON holds.\n\n### Its part\n\nMore."
    edited = edited.replace(
        "## Findings for the lead", f"{hand_written}\n\n## Findings for the lead"
    )
    edited = edited.replace(
        "## Findings for the lead\n\n", "## Findings for the lead\n\n0. Hand.\n\n"
    )
    markdown.write_text(edited)
    again = report.refresh(out).read_text()
    assert "Cold start 0.9 s (measured by hand)." in again
    assert hand_written in again
    assert "0. Hand." in again
    # Kept sections stay in number order, the findings last.
    positions = [again.index(h) for h in ("## 8. Desktop", "## 12. Written", "## Findings")]
    assert positions == sorted(positions)


def test_paired_differences_count_each_query_once_and_bracket_the_mean() -> None:
    out = paired(np.array([1.0, 0.0, 0.5, 0.25]), np.array([0.5, 0.0, 0.5, 1.0]))
    assert out["delta"] == round((0.5 - 0.75) / 4, 4)
    assert (out["better"], out["worse"]) == (1, 1)
    assert out["ci95"][0] <= out["delta"] <= out["ci95"][1]
    run = {"questions": [{"rank": 2}, {"rank": None}, {"rank": 1}]}
    assert projects.reciprocal_ranks(run) == [0.5, 0.0, 1.0]
