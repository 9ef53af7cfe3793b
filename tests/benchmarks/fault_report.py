"""The fault campaign's section of BENCHMARKS.md, from docs/benchmarks/faults.json."""

from __future__ import annotations

from typing import Any

TITLE = "## 10. Faults: the standing campaign"
MUST_BE_ZERO = ("files_lost", "ghosts", "wrong_vectors", "process_crashes")


AIMS = """What each part aims at (the failure families of the reliability issue):

- **Kills** (SIGKILL after a random delay, or the moment the vector save's temporary file
  or a new tantivy file appears) of `add`, `index`, `index --no-embed`, `index --full`,
  `remove` and `watch` (files edited while it runs), with files deleted, rewritten and
  added between runs, on a small embedded corpus and a larger lexical-only one: wrong
  vectors after a crash (SQLite reusing chunk ids), a kill during `remove`, ghosts.
- **Corruption** of the hnswlib file, tantivy's files and catalog pages: garbled vector
  files that crash the process, damaged catalogs and indexes giving tracebacks.
- **Full disk** (a tmpfs of 16 MB filled to a random number of free bytes): hnswlib
  saves truncated without an error, SQLite's "database or disk is full".
- **PostgreSQL killed** (the postmaster and its children, SIGKILL) while the CLI embeds.
- **Bad input**: hostile names, FIFOs, a socket, links to devices, out of the folder and
  in loops, huge files and lines, a deep tree, odd encodings, 20,000 tiny files (the
  load part), pathological and non-UTF-8 ignore files (each in a folder of its own);
  **fuzzing** of queries, filters, globs and settings files (mistyped values), then the
  CLI with the fuzzed settings files and odd arguments."""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def section(f: dict[str, Any] | None) -> str:
    if f is None:
        return (
            f"{TITLE}\n\n_Not run yet: `.venv/bin/python -m tests.benchmarks.faults` "
            "writes `docs/benchmarks/faults.json`._"
        )
    h = f["headline"]
    parts = f["parts"]
    m = f["machine"]
    label = f.get("label") or ""
    code = f.get("code_commit", f["commit"])
    corruption = parts.get("corruption", {})
    per_store = corruption.get("per_store", {})
    disk = parts.get("disk_full", {})
    pg = parts.get("pgvector", {})
    rows = [
        ["kills survived (SIGKILL, then one `index`, then verified)",
         f"{h['kills_survived']} of {h['kills_sent']}"],
        ["corruptions detected / repaired by one `index`",
         f"{h['corruptions_detected']} / {h['corruptions_repaired']} of {h['corruptions_tried']}"],
        *[
            [f"… {store}", f"{s['detected']} / {s['repaired']} of {s['tried']}"]
            for store, s in per_store.items()
        ],
        ["full disk: verified clean once space came back",
         disk.get("skipped") or f"{disk.get('clean_after', 0)} of {disk.get('trials', 0)}"],
        ["PostgreSQL killed mid-embedding: verified clean after",
         pg.get("skipped") or f"{pg.get('clean_after', 0)} of {pg.get('kills', 0)}"],
        ["bad inputs tried (hostile files, patterns, CLI arguments)", h["bad_inputs_tried"]],
        ["fuzzed queries, filters, globs, settings (hypothesis)", h["fuzz_examples"]],
        ["**files lost**", h["files_lost"]],
        ["**ghosts** (a deleted file's token finds something)", h["ghosts"]],
        ["**wrong vectors** (stored vector ≠ embedding of the chunk's text)", h["wrong_vectors"]],
        ["chunks without their vector after `index`", h["missing_vectors"]],
        ["store entries the catalog does not know", h["store_ghosts"]],
        ["embedding cache entries ≠ the model's vector (re-embedded sample)", h["cache_wrong"]],
        ["cached vectors lost or refused as damaged after `index` (the stored vector is"
         " checked against the model instead; embedded again when next needed)",
         h.get("cache_entries_lost", 0)],
        ["**process crashes**: tracebacks / signals not sent / hangs / verifier",
         f"{h['process_crashes']}: {h['tracebacks']} / {h['died_of_a_signal_not_sent']} / "
         f"{h['hangs']} / {h['verifier_crashes']}"],
        ["exceptions from the engine API (fuzzing, load, verification)", h["api_exceptions"]],
        ["CLI processes run", h["cli_runs"]],
        ["harness errors (the campaign's own faults)", h["harness_errors"]],
    ]  # fmt: skip
    zero = all(h.get(k, 0) == 0 for k in MUST_BE_ZERO)
    verdict = (
        "Files lost, ghosts, wrong vectors and crashes are all 0."
        if zero
        else "Files lost, ghosts, wrong vectors and crashes must be 0; they are not yet."
    )
    text = [
        TITLE,
        f"`.venv/bin/python -m tests.benchmarks.faults` ({f['command']}; seed {f['seed']}, "
        f"code at {code}{', ' + label if label else ''}; {m['date']}, load average "
        f"{m['load_average_at_start'][0]} at start; {f['seconds'] / 60:.1f} min). "
        "Every process is the real CLI in a subprocess with its own `CODANNA_HOME`, killed "
        "with a real SIGKILL; the stores are the real tantivy, hnswlib, SQLite and "
        "PostgreSQL + pgvector; the verifier (a child process) searches each live file's "
        "unique token (alpha 0: exactly that file), each dead token (nothing), and compares "
        "every stored vector with the catalog's embedding cache, itself re-checked against "
        "the model on a sample. `--quick` runs a handful of each (the test suite does, "
        "`tests/benchmarks/test_faults.py`).",
        _table(["", "result"], rows),
        verdict + " Lost files, ghosts and wrong vectors are counted per verification: one that"
        " stays is counted again by each later verification of the same folder (the"
        " JSON's `parts.kills.runs` says after which kill each first appeared). A kill"
        " survived: after it and one `index`, no crash and the verifier found nothing.",
        AIMS,
    ]
    kills = parts.get("kills", {})
    if kills.get("by_action_and_phase"):
        text.append(
            "Where the kills landed (the phase comes from the files the process had open "
            "when it was killed, or from the file whose appearance triggered the kill):\n\n"
            + _table(
                ["command / phase", "kills"],
                [[k, v] for k, v in kills["by_action_and_phase"].items()],
            )
        )
    examples = f["tally"]["examples"]
    shown = []
    for key in (
        "lost", "ghosts", "wrong_vectors", "missing_vectors", "store_ghosts", "tracebacks",
        "foreign_signals", "hangs", "verifier_crashes", "search_errors", "fuzz_failures",
        "load_errors", "followed_links_out",
    ):  # fmt: skip
        for ex in examples.get(key, [])[:3]:
            shown.append([key, _example(ex)])
    if shown:
        text.append(
            "Examples (up to three of each kind; all in the JSON):\n\n"
            + _table(["kind", "example"], shown)
        )
    bad = parts.get("bad_input", {})
    if bad.get("outcomes"):
        text.append(
            "Bad input, file by file:\n\n"
            + _table(["input", "outcome"], [[k, v] for k, v in bad["outcomes"].items()])
        )
    if bad.get("pathological_ignore"):
        text.append(
            "Ignore files with pathological patterns (20 files each, 60 s allowed):\n\n"
            + _table(
                ["pattern", "`add`", "seconds"],
                [
                    [f"`{p['pattern'][:40]}`", p["add"], p["seconds"]]
                    for p in bad["pathological_ignore"]
                ],
            )
        )
    load = parts.get("load", {})
    if load.get("latency"):
        lat = load["latency"]
        text.append(
            f"Load: {load['threads']} threads searching one read-only engine while another "
            f"process indexed {load['files']:,} tiny files ({load['indexing']}, "
            f"{load['indexing_seconds']} s): {load['searches']:,} searches, p50 "
            f"{lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, {load['errors']} errors."
        )
    return "\n\n".join(text)


def _example(ex: Any) -> str:
    if not isinstance(ex, dict):
        return str(ex)[:200]
    if "kind" in ex and "input" in ex:  # a fuzzing failure
        return f"{ex['kind']} {ex['input'][:90]}: {ex.get('error', '')[:120]}"
    context = ex.get("context", "")
    detail = ex.get("stderr_tail") or ex.get("error") or ex.get("sample") or ex.get("file") or ex
    if isinstance(detail, str):
        lines = [ln for ln in detail.strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else ""
    return f"{context}: {str(detail)[:220]}"
