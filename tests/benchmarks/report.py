"""BENCHMARKS.md and its plots, written from the JSON results in docs/benchmarks/.

    .venv/bin/python -m tests.benchmarks.report

Every benchmark calls `refresh` when it finishes; sections whose JSON is missing say so.
Sections 8 onwards (the desktop, installers, faults, exact search, …) are written by hand
and kept as they are; the report renders one from its JSON only where the file has none.
"""

from __future__ import annotations

import argparse
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.settings import Settings
from tests.benchmarks import fault_report, report_models
from tests.benchmarks.workspace import DOCS_DIR, REPO_ROOT, read_json

DESKTOP_BEGIN = "<!-- desktop:begin -->"
DESKTOP_END = "<!-- desktop:end -->"
DESKTOP_PENDING = (
    "**Pending**: cold start to window shown and the longest event-loop stall while "
    "indexing are measured by the desktop engineers (`tests/benchmarks/desktop.py`, which "
    "writes `docs/benchmarks/desktop.json`); the lead fills this section in (it is kept as "
    "written when the other sections are regenerated)."
)


def refresh(out_dir: Path = DOCS_DIR) -> Path:
    """Rewrite the markdown (BENCHMARKS.md at the repo root for docs/benchmarks, else
    next to the JSON files) and the plots."""
    markdown = (
        REPO_ROOT / "BENCHMARKS.md" if out_dir.resolve() == DOCS_DIR else out_dir / "BENCHMARKS.md"
    )
    data = {
        name: read_json(out_dir, name)
        for name in (
            "cosqa",
            "identifiers",
            "tuning",
            "ripgrep",
            "speed",
            "speed_before",
            "embedding_memory",
            "freshness",
            "watcher_load",
            "watcher_load_before",
            "models",
            "models_cost",
            "faults",
            "exact",
        )
    }
    plots = _plots(out_dir, data)
    rel = Path("docs/benchmarks") if markdown.parent == REPO_ROOT else Path(".")
    parts = [
        _header(data),
        _cosqa(data["cosqa"], plots, rel),
        _identifiers(data["identifiers"], plots, rel),
        _fusion(data, plots, rel),
        _ripgrep(data["ripgrep"]),
        _indexing(data["speed"]),
        _before_after(data["speed_before"], data["speed"]),
        _embedding_memory(data["embedding_memory"]),
        _queries(data["speed"]),
        _freshness(data["freshness"]),
        _watcher_load(data["watcher_load"], data["watcher_load_before"]),
        _desktop(),
        fault_report.section(data["faults"]),
        _exact(data["exact"]),
        report_models.section(data["models"], data["models_cost"]),
        _findings(data),
    ]
    previous = markdown.read_text(encoding="utf-8") if markdown.exists() else ""
    markdown.write_text(_keep_hand_written(parts, previous), encoding="utf-8")
    return markdown


# Sections numbered from here on, and the findings, are written by hand; the report renders
# one only where the file has none yet (a fresh output folder), so a run never drops or
# rewrites them.
FIRST_HAND_KEPT = 8
FINDINGS = "Findings"


def _sections(markdown: str) -> dict[int | str, str]:
    """The file's `## ` sections (their `###` parts included): `## N. …` by number, the
    findings by name."""
    found: dict[int | str, str] = {}
    for block in re.split(r"(?m)^(?=## )", markdown):
        if numbered := re.match(r"## (\d+)\. ", block):
            found[int(numbered.group(1))] = block.strip()
        elif block.startswith(f"## {FINDINGS}"):
            found[FINDINGS] = block.strip()
    return found


def _keep_hand_written(parts: Sequence[str], previous: str) -> str:
    header, *rest = [p.strip() for p in parts if p]
    made = _sections("\n\n".join(rest))
    kept = {
        key: text
        for key, text in _sections(previous).items()
        if key == FINDINGS or int(key) >= FIRST_HAND_KEPT
    }
    sections = {**made, **kept}
    numbers = sorted(k for k in sections if isinstance(k, int))
    ordered = [sections[n] for n in numbers]
    if FINDINGS in sections:
        ordered.append(sections[FINDINGS])
    return "\n\n".join([header, *ordered]) + "\n"


# -- helpers -------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _missing(name: str, command: str) -> str:
    return f"_Not measured yet: run `{command}`._"


def _default_prefix(result: dict[str, Any]) -> str:
    """rule/depth/ of the defaults, or of the first configuration a (smoke) grid holds."""
    d = result["defaults"]
    prefix = f"{d['fusion']}/{d['candidates_per_side']}/"
    if any(k.startswith(prefix) for k in result["grid"]):
        return prefix
    return next(iter(result["grid"])).rsplit("/", 1)[0] + "/"


# -- plots ---------------------------------------------------------------------------


def _plots(out_dir: Path, data: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: dict[str, str] = {}
    c, i = data["cosqa"], data["identifiers"]
    if c is not None:
        alphas = [float(a) for a in c["headline"]]
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for metric in ("MRR@10", "Recall@10", "nDCG@10"):
            ax.plot(
                alphas, [c["headline"][a][metric] for a in c["headline"]], marker="o", label=metric
            )
        ax.axhline(c["bm25_eval_py"]["MRR@10"], color="grey", ls="--", label="eval.py BM25 MRR@10")
        ax.set_xlabel("weight α (0 = lexical only, 1 = semantic only)")
        ax.set_title(
            f"CoSQA dev ({c['corpus']['queries']} queries), {c['defaults']['fusion']}, "
            f"depth {c['defaults']['candidates_per_side']}"
        )
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "cosqa_alpha.png", dpi=110)
        plt.close(fig)
        made["cosqa"] = "cosqa_alpha.png"
    if i is not None:
        prefix = _default_prefix(i)
        keys = [k for k in i["grid"] if k.startswith(prefix)]
        alphas = [float(k.rsplit("/", 1)[1]) for k in keys]
        fig, ax = plt.subplots(figsize=(6.4, 4))
        ax.plot(alphas, [i["grid"][k]["success@1"] for k in keys], marker="o", label="success@1")
        ax.plot(alphas, [i["grid"][k]["MRR@10"] for k in keys], marker="o", label="MRR@10")
        for form in ("single", "dotted", "spaced"):
            if any(f"form:{form}" not in i["grid"][k]["by_group"] for k in keys):
                continue
            ax.plot(
                alphas,
                [_group(i["grid"][k]["by_group"], f"form:{form}") for k in keys],
                ls=":",
                label=f"success@1 {form}",
            )
        ax.axhline(0.95, color="grey", ls="--", label="target 0.95")
        ax.set_xlabel("slider weight α (identifier-shaped queries bend it, see §3)")
        ax.set_title(f"Identifier lookup ({i['queries']} queries)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "identifiers_alpha.png", dpi=110)
        plt.close(fig)
        made["identifiers"] = "identifiers_alpha.png"
    if c is not None and i is not None:
        depth = c["defaults"]["candidates_per_side"]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for rule in ("minmax", "zscore", "rrf"):
            for ax, grid, metric in (
                (axes[0], c["grid"], "MRR@10"),
                (axes[1], i["grid"], "success@1"),
            ):
                keys = [k for k in grid if k.startswith(f"{rule}/{depth}/")]
                if keys:
                    ax.plot(
                        [float(k.rsplit("/", 1)[1]) for k in keys],
                        [grid[k][metric] for k in keys],
                        marker=".",
                        label=rule,
                    )
        axes[0].set_title(f"CoSQA MRR@10 by fusion rule (depth {depth})")
        axes[1].set_title(f"Identifier success@1 by fusion rule (depth {depth})")
        for ax in axes:
            ax.set_xlabel("α")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "fusion_rules.png", dpi=110)
        plt.close(fig)
        made["fusion"] = "fusion_rules.png"
    s = data["speed"]
    if s is not None and "query_latency" in s:
        lat = s["query_latency"]
        kinds = ["lexical", "semantic", "hybrid", "refusion", "catalog_rows"]
        fig, ax = plt.subplots(figsize=(7, 3.8))
        width = 0.2
        for n, (store, stat) in enumerate(
            (
                ("hnswlib", "p50_ms"),
                ("hnswlib", "p95_ms"),
                ("pgvector", "p50_ms"),
                ("pgvector", "p95_ms"),
            )
        ):
            if store in lat:
                ax.bar(
                    [x + n * width for x in range(len(kinds))],
                    [lat[store][k][stat] for k in kinds],
                    width,
                    label=f"{store} {stat[:3]}",
                )
        ax.set_xticks([x + 1.5 * width for x in range(len(kinds))], kinds)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.set_title("Query latency (standard-library subset)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(out_dir / "query_latency.png", dpi=110)
        plt.close(fig)
        made["latency"] = "query_latency.png"
    return made


# -- sections ------------------------------------------------------------------------


def _header(data: dict[str, Any]) -> str:
    m = next((d["machine"] for d in data.values() if d and "machine" in d), None)
    machine = (
        f"{m['nproc']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}, {m['os']}. "
        "The cores are shared with other work: every JSON file records the load average when "
        "its run started, and times are medians of repetitions, comparisons measured in the "
        "same run."
        if m
        else "_No results yet._"
    )
    commands = _table(
        ["what", "command (from the repo root)", "writes"],
        [
            [
                "CoSQA relevance",
                "`.venv/bin/python -m tests.benchmarks.cosqa`",
                "cosqa.json, cosqa_alpha.png",
            ],
            [
                "identifier lookup",
                "`.venv/bin/python -m tests.benchmarks.identifiers`",
                "identifiers.json, identifiers_alpha.png",
            ],
            [
                "tuning and defaults",
                "`.venv/bin/python -m tests.benchmarks.tuning --embedding-variants`",
                "tuning.json, fusion_rules.png",
            ],
            [
                "ripgrep completeness",
                "`.venv/bin/python -m tests.benchmarks.ripgrep`",
                "ripgrep.json",
            ],
            [
                "speed and size",
                "`.venv/bin/python -m tests.benchmarks.speed`",
                "speed.json, query_latency.png",
            ],
            [
                "embedding batch vs memory",
                "`.venv/bin/python -m tests.benchmarks.embedding_memory`",
                "embedding_memory.json",
            ],
            ["freshness", "`.venv/bin/python -m tests.benchmarks.freshness`", "freshness.json"],
            [
                "watcher while indexing",
                "`.venv/bin/python -m tests.benchmarks.watcher_load`",
                "watcher_load.json",
            ],
            [
                "folder moves",
                "`.venv/bin/python -m tests.benchmarks.folder_move`",
                "folder_move.json",
            ],
            ["fault campaign", "`.venv/bin/python -m tests.benchmarks.faults`", "faults.json"],
            [
                "exact search vs ripgrep",
                "`.venv/bin/python -m tests.benchmarks.exact --mirror DIR --big 10`",
                "exact.json, exact_quiet.json, exact_final.json",
            ],
            [
                "exact search's gram windows",
                "`.venv/bin/python -m tests.benchmarks.exact_grams --work bench-work/exact`",
                "(printed; BENCHMARKS §11)",
            ],
            [
                "questions across projects",
                "`.venv/bin/python -m tests.benchmarks.projects --mirror DIR`",
                "projects.json",
            ],
            [
                "the command line's latency",
                "`.venv/bin/python -m tests.benchmarks.cli_latency --runs 15`",
                "cli_latency.json",
            ],
            [
                "the default models' quality and cost",
                "`.venv/bin/python -m tests.benchmarks.models` and `models_cost`",
                "models.json, models_cost.json",
            ],
            [
                "the search box's latency per part",
                "`.venv/bin/python -m tests.benchmarks.models_latency --before-ref REF`",
                "models_latency.json",
            ],
            [
                "the default weight, cross-validated",
                "`.venv/bin/python -m tests.benchmarks.tuning --alpha-cv`",
                "alpha_cv.json",
            ],
            [
                "installed program",
                "`.venv/bin/python packaging/measure_installed.py --program PATH`",
                "installed.json",
            ],
            ["this file only", "`.venv/bin/python -m tests.benchmarks.report`", "BENCHMARKS.md"],
        ],
    )
    return f"""# Benchmarks

Sections 1–7 are generated by `tests/benchmarks/report.py` from the JSON files in
`docs/benchmarks/`. The other sections and the findings at the end are written by hand from
their benchmarks' JSON; the report keeps them as they are (it writes one from its JSON only
where the file has none yet). Sections 1–3 were measured with MiniLM alone; the two default
models' CoSQA and identifier figures are in section 15.

**Machine.** {machine}

Each benchmark works in `bench-work/` (git-ignored) with its own `CODANNA_HOME`, indexes
with the application's own engine and searches through `Engine.search` +
`SearchSession.results` (the code path of the app's search box and slider). Embeddings are
computed once per text and then come from the embedding cache. The CoSQA files are read
from `../shared/bench/cosqa` (option `--cosqa`), never copied into the repo. A smoke run of
every benchmark on a tiny subset is part of the test suite (`tests/benchmarks/test_smoke.py`).

{commands}"""


def _cosqa(c: dict[str, Any] | None, plots: dict[str, str], rel: Path) -> str:
    if c is None:
        return "## 1. CoSQA: natural-language queries\n\n" + _missing(
            "cosqa", "python -m tests.benchmarks.cosqa"
        )
    d = c["defaults"]
    h = c["headline"]
    rows = [["lexical only (α = 0)", *_cm(h["0.0"])], ["semantic only (α = 1)", *_cm(h["1.0"])]]
    rows += [
        [f"hybrid α = {a}" + (" **(default)**" if float(a) == d["alpha"] else ""), *_cm(m)]
        for a, m in h.items()
    ]
    b = c["bm25_eval_py"]
    rows.append(
        [
            "eval.py BM25 baseline (reference)",
            b["MRR@10"],
            b["Recall@10"],
            b["nDCG@10"],
            b["MRR"],
            b["Recall@100"],
        ]
    )
    cli = c["cli_batch"]
    agree = "agrees with" if cli.get("agrees_with_in_process") else "**differs from**"
    plot = f"![CoSQA by weight]({rel / plots['cosqa']})" if "cosqa" in plots else ""
    ix = c["indexing"]
    return f"""## 1. CoSQA: natural-language queries

{c["corpus"]["documents"]:,} functions written as files and indexed by the engine
({ix["files"]:,} files, {ix["chunks"]:,} chunks; embedding them took about 5 minutes once);
{c["corpus"]["queries"]} dev queries through the app's search; scored by the benchmark's own
`eval.py` (paths made relative to the corpus folder; a file's several chunks count once).
Fusion {d["fusion"]}, {d["candidates_per_side"]} candidates per side, top {c["headline_k"]}.
For reference: plain BM25 MRR@10 0.320; all-MiniLM-L6-v2 alone about 0.53.

{_table(["mode", "MRR@10", "Recall@10", "nDCG@10", "MRR", "Recall@100"], rows)}

{plot}

The batch CLI, run once (`{cli["command"]}`, {cli["seconds"]} s) and scored by `eval.py --run`
in a subprocess: MRR@10 {cli["metrics"]["MRR@10"]:.4f}, Recall@10
{cli["metrics"]["Recall@10"]:.4f}; it {agree} the in-process figure.

**Reading.** The semantic side carries this benchmark. The lexical side (BM25 over the
chunks) is at the level of the reference BM25; no weight and no fusion rule (§3) lifts
MRR@10 or nDCG@10 above semantic only, which the hybrid approaches from α ≈ 0.8, while
Recall@10 does rise above both single modes there. Every figure is a lower bound (one
labelled answer per query; other functions that answer it count as misses)."""


def _group(groups: dict[str, Any], name: str) -> Any:
    return groups[name]["success@1"] if name in groups else "-"


def _cm(m: dict[str, float]) -> list[float]:
    return [m["MRR@10"], m["Recall@10"], m["nDCG@10"], m["MRR"], m["Recall@100"]]


def _identifiers(i: dict[str, Any] | None, plots: dict[str, str], rel: Path) -> str:
    if i is None:
        return "## 2. Identifier lookup\n\n" + _missing(
            "identifiers", "python -m tests.benchmarks.identifiers"
        )
    prefix = _default_prefix(i)
    d = i["defaults"]
    rows = []
    for key, m in i["grid"].items():
        if not key.startswith(prefix):
            continue
        a = float(key.rsplit("/", 1)[1])
        g = m["by_group"]
        label = {0.0: "lexical only (α = 0)", 1.0: "semantic only (α = 1)"}.get(
            a, f"hybrid α = {a:.1f}"
        )
        if a == d["alpha"]:
            label += " **(default)**"
        rows.append(
            [
                label,
                m["success@1"],
                m["MRR@10"],
                _group(g, "form:single"),
                _group(g, "form:dotted"),
                _group(g, "form:spaced"),
                _group(g, "kind:constant"),
            ]
        )
    examples = "; ".join(
        f"{form}: " + ", ".join(f"`{t}`" for t in texts[:5])
        for form, texts in i["query_examples"].items()
    )
    plot = (
        f"![Identifier lookup by weight]({rel / plots['identifiers']})"
        if "identifiers" in plots
        else ""
    )
    counts: dict[str, int] = {}
    for q in i["query_list"]:
        counts[q["kind"]] = counts.get(q["kind"], 0) + 1
    plural = {"class": "classes"}
    kinds = ", ".join(f"{n} {plural.get(k, k + 's')}" for k, n in sorted(counts.items()))
    return f"""## 2. Identifier lookup

A fixed subset of the running Python's standard library: {i["subset"]["files"]} files
(packages {", ".join(i["subset"]["packages"])} and {len(i["subset"]["modules"])} top-level
modules, listed in `identifiers.py`), {i["indexing"]["chunks"]:,} chunks. Queries come from
Python's `ast`, each name defined exactly once in the subset: {i["queries"]} queries ({kinds}).
Examples: {examples}. The relevant result is the chunk whose line span holds the definition's
line (not the class chunk around a method). Fusion {d["fusion"]}, depth
{d["candidates_per_side"]}; the weight is the slider's, which identifier-shaped queries
bend towards lexical (§3).

{_table(["mode", "success@1", "MRR@10", "single", "dotted", "spaced", "constants"], rows)}

{plot}

**Reading.** Functions, classes and methods are found first nearly always; the misses are
module-level constants (a constant lives in a "module" chunk with no symbol of its own, so
the function or class named like it in any casing ranks above it: `DEBUG` finds `def debug`)
and long definitions cut into windows (every window repeats the signature and carries the
symbol, so a later window can outrank the one holding the `def` line)."""


def _fusion(data: dict[str, Any], plots: dict[str, str], rel: Path) -> str:
    c, i, t = data["cosqa"], data["identifiers"], data["tuning"]
    if c is None or i is None:
        return "## 3. Fusion rules, depth and the default\n\n" + _missing(
            "grids", "cosqa and identifiers"
        )
    d = c["defaults"]
    alpha = d["alpha"]
    rows = []
    for rule in ("minmax", "zscore", "rrf"):
        for depth in sorted({int(k.split("/")[1]) for k in c["grid"]}):
            ck = [k for k in c["grid"] if k.startswith(f"{rule}/{depth}/")]
            if not ck:
                continue
            best = max(ck, key=lambda k: c["grid"][k]["MRR@10"])
            at = f"{rule}/{depth}/{alpha:.1f}"
            rows.append(
                [
                    rule,
                    depth,
                    c["grid"].get(at, {}).get("MRR@10", "-"),
                    f"{c['grid'][best]['MRR@10']:.3f} at α {best.rsplit('/', 1)[1]}",
                    i["grid"].get(at, {}).get("success@1", "-"),
                    i["grid"].get(f"{rule}/{depth}/0.5", {}).get("success@1", "-"),
                ]
            )
    plot = f"![Fusion rules]({rel / plots['fusion']})" if "fusion" in plots else ""
    headers = ["rule", "depth", f"CoSQA MRR@10 at α {alpha}", "CoSQA best"]
    headers += [f"ident. success@1 at α {alpha}", "ident. success@1 at α 0.5"]
    depth_table = _table(headers, rows)
    parts = [
        f"""## 3. Fusion rules, depth and the default

Every rule and depth at every weight, on both benchmarks (full grids in `cosqa.json` and
`identifiers.json`). Min-max (per query) is ahead of z-score and reciprocal-rank fusion
wherever it matters: on identifiers at every weight, on CoSQA from α = 0.4 up (below that
z-score and RRF lead, all far under semantic only). The depth of 50 to 400 candidates per
side moves figures by less than their noise (on 500 CoSQA queries the standard error of a paired
MRR@10 difference is several thousandths, see "The default").

{depth_table}

{plot}"""
    ]
    if t is not None:
        parts.append(_tuning(t, d))
    return "\n\n".join(parts)


def _tuning(t: dict[str, Any], d: dict[str, Any]) -> str:
    out = []
    b = t["boosts"]
    out.append(
        "### Kept: lexical field boosts (core/ranking/lexical_query.py FIELD_BOOSTS)\n\n"
        + _table(
            [
                "boosts",
                "CoSQA lexical MRR@10",
                "ident. lexical success@1",
                f"CoSQA hybrid α {d['alpha']}",
                f"ident. success@1 α {d['alpha']}",
            ],
            [
                [
                    f"{name}: " + ", ".join(f"{k} {v}" for k, v in b[name].items()),
                    b[f"{name}_lexical_only"]["cosqa_MRR@10"],
                    b[f"{name}_lexical_only"]["ident_success@1"],
                    b[f"{name}_hybrid_at_default"]["cosqa_MRR@10"],
                    b[f"{name}_hybrid_at_default"]["ident_success@1"],
                ]
                for name in ("original", "tuned")
            ],
        )
        + "\n\nHigh boosts on single words in the short symbol field let one common word pull a "
        "function named just that (`read`, `copy`) above the answer of a sentence; a name typed "
        "in full is still carried by the symbol phrase boost. Wins on both benchmarks."
    )
    a = t["auto_weight"]
    rows = []
    for alpha in a["on"]:
        if not alpha.replace(".", "").isdigit():  # the oracle and paired figures
            continue
        on, off = a["on"][alpha], a["off"][alpha]
        rows.append(
            [
                alpha,
                off["cosqa_MRR@10"],
                on["cosqa_MRR@10"],
                off["ident_success@1"],
                on["ident_success@1"],
                off["ident_MRR@10"],
                on["ident_MRR@10"],
            ]
        )
    out.append(
        "### Kept: a weight that reads the query (core/ranking/search.py `query_weight`)\n\n"
        "A query of at most three words, or with a word shaped like code (`snake_case`, "
        "`dotted.name`, `camelCase`, `Cls::m`, `call(`), is a lookup: its semantic:lexical odds "
        f"are multiplied by {a['identifier_odds']:.4f} (at the slider's 0.8 it is fused at "
        "0.1, at 0.9 at 0.2; 0 and 1 stay lexical only and semantic only). Sentences use "
        "the slider as it is, so "
        "CoSQA (all queries are sentences of 4+ words) is unchanged.\n\n"
        + _table(
            [
                "slider α",
                "CoSQA MRR@10 off",
                "on",
                "ident. success@1 off",
                "on",
                "ident. MRR@10 off",
                "on",
            ],
            rows,
        )
    )
    caps = t["all_caps_rule"]
    out.append(
        "### Tried and dropped\n\n"
        + _table(
            ["change", "CoSQA lexical MRR@10", "ident. lexical success@1", "constants success@1"],
            [
                [
                    "without (today)",
                    caps["without"]["cosqa_MRR@10"],
                    caps["without"]["ident_success@1"],
                    "-",
                ],
                [
                    "ALL-CAPS query words skip the symbol fields",
                    caps["with"]["cosqa_MRR@10"],
                    caps["with"]["ident_success@1"],
                    "-",
                ],
            ],
        )
        + "\n\nNo net change on either benchmark (it helps two constants and costs two "
        "other queries): dropped. " + _rewrites(t)
    )
    e = t.get("embedding_input")
    if e:
        rows = [
            [name, r["MRR@10_alpha_1.0"], r["MRR@10_alpha_0.9"], r["MRR@10_alpha_0.8"]]
            for name, r in e.items()
            if isinstance(r, dict)
        ]
        out.append(
            "### Text fed to the model (CoSQA sub-corpus: "
            f"{e['documents']:,} functions incl. all answers)\n\n"
            + _table(
                ["embedded text", "semantic only MRR@10", "hybrid α 0.9", "hybrid α 0.8"], rows
            )
            + "\n\nThe chunk text as it is stays best: splitting identifiers, prefixing the name's "
            "words or keeping only the natural-language parts all lose. (The path is never "
            "part of the embedded text, so renames are never re-embedded.)"
        )
    names = t.get("defined_names")
    if names:
        rows = [
            [
                name,
                r["lexical_only"]["ident_success@1"],
                r["hybrid_at_default"]["ident_success@1"],
                r["hybrid_at_default"]["ident_MRR@10"],
                r["lexical_only"]["cosqa_MRR@10"],
                r["hybrid_at_default"]["cosqa_MRR@10"],
            ]
            for name, r in names.items()
            if isinstance(r, dict) and "lexical_only" in r
        ]
        out.append(
            "### Kept: chunks name what they define (core/chunking/chunker.py `Chunk.names`)\n\n"
            + _table(
                [
                    "lexical side",
                    "ident. lexical success@1",
                    "ident. success@1 at default",
                    "ident. MRR@10 at default",
                    "CoSQA lexical MRR@10",
                    "CoSQA at default",
                ],
                rows,
            )
            + "\n\nEach chunk lists the names it defines: a definition's own name only on the "
            "window that holds its signature line (a later window of a long function no "
            "longer outranks the `def`), and in module and class chunks the names their "
            "declarations bind (constants, variables, enum members; a tree-sitter query per "
            "grammar). A lookup adds a fixed score to a chunk defining the name typed "
            f"({names['name_scores']['name']:g}, and {names['name_scores']['name_exact']:g} "
            "more in "
            "the same case, so `ERROR` finds the constant, not `class Error`), and spaced "
            "words that spell a defined name in order are rewarded (`https port`). For "
            "sentences the names are not counted: one word of a sentence would pull every "
            "function named just that word to the top (last row)."
        )
    reference = t.get("reference_bm25_fusion")
    if reference:
        out.append(
            "### Is it our lexical side? eval.py's BM25 fused the same way (CoSQA MRR@10)\n\n"
            + _table(
                ["α", "app's lexical + semantic", "eval.py BM25 + semantic"],
                [[a, v["app"], v["reference"]] for a, v in reference.items()],
            )
            + "\n\nThe benchmark's own BM25 (no code-aware analysis, no boosts; it returns a "
            "ranking only, so its side is scored by rank), fused with the app's semantic "
            "candidates by the default rule, does not beat semantic only "
            "(α 1.0) at any weight either: on these queries the words add nothing the model "
            "has not already counted (see the CoSQA note in section 1)."
        )
    disagreement = t.get("side_disagreement")
    if disagreement:
        out.append(
            "### When the two sides' first results differ (CoSQA)\n\n"
            + _table(
                [
                    "lexical first result, in the semantic ranking",
                    "queries",
                    "lexical first right",
                    "semantic first right",
                ],
                [
                    [b, c["queries"], c["lexical_first_right"], c["semantic_first_right"]]
                    for b, c in disagreement.items()
                ],
            )
            + "\n\nWherever the lexical first result is not also the semantic one, the "
            "semantic first result is right more often: no bucket in which lexical evidence "
            "should win, which is why no weight lifts the hybrid above semantic only here."
        )
    feedback = t.get("agreement_feedback")
    if feedback:
        variants = {k: v for k, v in feedback.items() if isinstance(v, dict)}
        alphas = list(next(iter(variants.values())))
        out.append(
            "### Semantic feedback from what both sides agree on (CoSQA MRR@10)\n\n"
            + _table(
                ["query vector moved towards", *(f"α {a}" for a in alphas)],
                [[name, *v.values()] for name, v in variants.items()],
            )
            + f"\n\n{feedback['queries_with_agreement']} of {feedback['queries']} queries have "
            "chunks in both sides' top 10. The query vector moves towards them (Rocchio: "
            "query + β × their mean, normalised), the vector store is searched again with "
            "it, and that ranking is fused with the lexical one. No row beats semantic only "
            f"without feedback ({feedback['none']['1.0']:.3f}): the agreed chunks pull in "
            "their neighbours, not the answer, and the control (the semantic first result "
            "alone, no lexical evidence) at best matches it."
        )
    floors = t.get("fixed_floor_fusion")
    if floors:
        alphas = list(next(iter(floors.values())))
        out.append(
            "### Tried: fusion from fixed floors (CoSQA MRR@10 / identifier success@1)\n\n"
            + _table(
                ["normalisation", *(f"α {a}" for a in alphas)],
                [
                    [
                        name,
                        *(
                            f"{v['cosqa_MRR@10']:.3f} / {v['ident_success@1']:.3f}"
                            for v in by.values()
                        ),
                    ]
                    for name, by in floors.items()
                ],
            )
            + "\n\nEach side divided by its distance from a fixed floor (BM25 from 0, cosine "
            "from -1 or 0) up to the query's best score, instead of from the query's own lowest "
            'candidate (the "theoretical min-max" of Bruch et al. 2023, who found convex '
            "combinations ahead of RRF on text retrieval). Here it loses on CoSQA at every "
            "weight: the app's per-query min-max stays."
        )
    ch = t.get("defaults", {})
    if "default" in ch:
        out.append(
            "### The default\n\n"
            f"`{ch['default']}` (rule/depth/α) in core/settings.py. CoSQA MRR@10 at the default "
            f"{ch['cosqa_MRR@10']:.3f} against lexical only "
            f"{ch['cosqa_lexical_only_MRR@10']:.3f} and "
            f"semantic only {ch['cosqa_semantic_only_MRR@10']:.3f}: beats both single modes: "
            f"**{'yes' if ch['beats_both_single_modes_on_cosqa'] else 'no'}**. Identifier "
            f"success@1 at the default {ch['ident_success@1']:.3f}: at least 0.95: "
            f"**{'yes' if ch['ident_success@1_at_least_0.95'] else 'no'}**. Best CoSQA "
            f"configuration in the grid: {ch['best_cosqa_config'][0]} "
            f"({ch['best_cosqa_config'][1]:.3f}); best identifier configuration: "
            f"{ch['best_ident_config'][0]} ({ch['best_ident_config'][1]:.3f}).\n\n"
            "Why this default: no fixed weight serves both benchmarks (CoSQA wants α near 1, "
            "identifiers α below 0.35), which is what the query-reading weight resolves. For "
            f"sentences α = {d['alpha']} keeps the hybrid within noise of semantic only "
            f"({_paired(t, d['alpha'])}; no weight and no fusion rule beats semantic only on "
            "CoSQA MRR@10, §1), while a sentence containing an identifier is bent to lexical. "
            "The two targets of the brief are not both met: see the findings "
            "at the end."
        )
    return "\n\n".join(out)


def _paired(t: dict[str, Any], alpha: float) -> str:
    p = t["auto_weight"]["on"].get("cosqa_paired_vs_semantic_only", {}).get(f"{alpha:.1f}")
    if not p:
        return "paired difference not measured"
    return (
        f"paired against semantic only, MRR@10 differs by {p['mean_diff']:+.4f} "
        f"± {p['se']:.4f} (standard error; {p['up']} queries up, {p['down']} down)"
    )


def _rewrites(t: dict[str, Any]) -> str:
    r = t.get("query_rewrites")
    if not r:
        return ""
    rows = [[name, value] for name, value in r.items()]
    return (
        "\n\nRewriting sentences before the lexical search (CoSQA, lexical only); only "
        'removing the word "python" gains, and only on this benchmark (nearly every query '
        "names the language), so none is kept:\n\n"
        + _table(["query rewrite", "CoSQA lexical MRR@10"], rows)
    )


def _ripgrep(r: dict[str, Any] | None) -> str:
    if r is None:
        return "## 4. Lexical completeness against ripgrep\n\n" + _missing(
            "ripgrep", "python -m tests.benchmarks.ripgrep"
        )
    rows = [
        [f"`{x['name']}`", x["rg_files"], x["found_of_rg"], x["app_files"], len(x["missed"])]
        for x in r["per_name"]
    ]
    misses = "; ".join(f"{n} {why}" for why, n in r["missed_by_reason"].items()) or "none"
    skipped = (
        ", ".join(f"`{s['path']}` ({s['reason']})" for s in r["index"]["skipped_text_files"])
        or "none"
    )
    ix = r["index"]
    skipped_counts = ", ".join(f"{n} {why}" for why, n in ix["skipped"].items()) or "none"
    return f"""## 4. Lexical completeness against ripgrep

The whole standard library ({r["root"]}, every file the app indexes, not only .py) indexed
lexically only: `codanna-desktop add --no-embed` ({ix["files"]:,} files, {ix["chunks"]:,} chunks;
skipped: {skipped_counts}; this run's `add` reported "{ix["cli_output"].splitlines()[-1]}").
{r["names"]} names defined in it (sampled with a fixed seed, test-suite names left out)
searched lexically with k = the whole index; ripgrep (`rg -w -l -F --no-ignore`, with the
app's default excluded folders left out too) on the same tree.

**Recall against ripgrep: {r["recall"]:.4f}** ({r["app_found_of_rg"]} of {r["rg_file_hits"]}
file hits). Misses by reason: {misses}. Files skipped for size (a name only they contain
would be a miss; all are binaries here): {skipped}. The app returns more files than
ripgrep (last column) because its search also matches the words of an identifier
(`get_config_var` also matches `config`), ranked below the exact matches.

<details><summary>Per name</summary>

{_table(["name", "rg files", "found by the app", "app files", "missed"], rows)}

</details>"""


def _exact(e: dict[str, Any] | None) -> str:
    title = "## 11. Exact search against ripgrep"
    if e is None:
        return f"{title}\n\n" + _missing("exact", "python -m tests.benchmarks.exact")
    trees = list(e["per_tree"]) + ([e["big"]] if e.get("big") else [])
    rows = [
        [
            t["tree"],
            t.get("files", t.get("index", {}).get("files", "")),
            len(t["patterns"]),
            t["same_lines"],
            t["differences"],
            t["rg"]["p50_ms"],
            t["rg"]["p95_ms"],
            t["app_warm"]["p50_ms"],
            t["app_warm"]["p95_ms"],
            t["rg_over_app_median"],
            t["per_pattern_ratio_p50"],
            t["cli"]["p50_ms"],
        ]
        for t in trees
    ]
    reasons = "; ".join(f"{n} {why}" for why, n in e["differences_by_reason"].items()) or "none"
    cost = e["cost"]
    w, wo = cost["with_content_index"], cost["without"]
    sizes = ", ".join(f"{k} {v} MB" for k, v in w["sizes_mb"].items())
    kinds: dict[str, list[int]] = {}
    for t in e["per_tree"]:
        for r in t["patterns"]:
            kinds.setdefault(r["kind"], [0, 0])
            kinds[r["kind"]][0] += 1
            kinds[r["kind"]][1] += r["difference_count"] == 0
    kind_rows = [[k, n, same] for k, (n, same) in kinds.items()]
    window = e.get("window") or {}
    window_rows = [
        [f"`{q['query']}`", q["matches"], q["files"], q["answer_s"], q["longest_stall_ms"],
         q["stalls_over_100ms"], q.get("longest_tick_wall_ms", ""),
         q.get("longest_tick_cpu_ms", "")]
        for q in window.get("queries", [])
    ]  # fmt: skip
    idle = window.get("idle")
    if idle:
        window_rows.insert(
            0, [f"(none: the window idle {idle['seconds']:g} s)", "", "", "",
                idle["longest_stall_ms"], idle["stalls_over_100ms"], "", ""],
        )  # fmt: skip
    big = e.get("big")
    big_line = (
        f"The large tree (`--big`: copies of the standard library's indexed files, "
        f"{big['index']['files']:,} files) indexed in {big['index']['seconds']} s; the same "
        "patterns as the standard library's."
        if big
        else "No large tree in this run (`--big N`)."
    )
    load = e["machine"]["load_average_at_start"][0]
    return f"""{title}

Written {e["machine"]["date"]}, load average {load} then on the 2 cores (other work
shared them throughout the run: every time below is slower than on a quiet machine, the ratios
less so since both sides ran interleaved). `codanna-desktop grep` and the window's exact
mode against `{e["rg"]}` on the same trees
({", ".join(f"{k} `{v}`" for k, v in e["trees"].items())}), ripgrep run with the app's
rules (`{e["rg_flags"]}`). Patterns per tree: identifiers sampled from its text (rare and
common), the same with `-w`, `-i` and `-S`, literals with punctuation (`-F`), regular
expressions and non-ASCII text. **{e["same_lines"]} of {e["patterns"]} patterns give exactly
ripgrep's (file, line) pairs**; the {e["differences"]} differing pairs, by reason: {reasons}.

{_table(["kind", "patterns", "same lines as rg"], kind_rows)}

Time per pattern in one run, interleaved: `rg` on the tree (a process, reading every file)
against the app warm (the searcher open in the process, as the window has it: trigram
candidates from the index, then RE2 over their stored texts); `cli p50` is
`codanna-desktop grep` as a process (start, imports, opening the index included), over the
first {e["per_tree"][0]["cli"]["n"]} patterns. Milliseconds; the ratio columns are rg / app.

{_table(["tree", "files", "patterns", "same lines", "differences", "rg p50", "rg p95",
         "app p50", "app p95", "ratio of p50s", "median per-pattern ratio", "cli p50"], rows)}

{big_line}

Cost (the whole set of trees, lexical indexing, a fresh process each): with the content
index {w["seconds"]} s and {w["peak_rss_mb"]} MB peak (writer process), without it
{wo["seconds"]} s and {wo["peak_rss_mb"]} MB; sizes with it: {sizes}.

The window in exact mode answering queries with thousands of matches (the desktop
benchmark's stall measure: a 10 ms timer's late ticks, from the query through the answer
to scrolling to the last line and back):

{_table(["query", "matches", "files", "answer s", "longest stall ms", "stalls > 100 ms",
         "longest tick ms", "its CPU ms"], window_rows)}

The search runs in a process of its own (core/exact/worker.py), never on a thread of the
window's process: the window only reads its answers on a timer, at most about 8 ms of
reading per tick (`longest tick ms`: the longest such tick, wall time; `its CPU ms`: the
window thread's CPU time in it). A stall longer than the longest tick is time the
window's process waited for a core: compare the idle window's row, measured in the same
run. `python -m tests.benchmarks.exact --window-only` measures them again."""  # fmt: skip


def _indexing(s: dict[str, Any] | None) -> str:
    if s is None:
        return "## 5. Indexing: speed, memory, size\n\n" + _missing(
            "speed", "python -m tests.benchmarks.speed"
        )
    lx, em, ri, mem, sz = (
        s["lexical_indexing"],
        s["embedding_throughput"],
        s["reindexing"],
        s["memory"],
        s["sizes"],
    )
    rows = [
        [
            "lexically searchable, whole tree (fresh index)",
            f"{lx['seconds']} s ({lx['seconds_runs']})",
            f"{lx['files']:,} files, {lx['chunks']:,} chunks: {lx['files_per_s']} files/s, "
            f"{lx['chunks_per_s']:,} chunks/s",
        ],
        *(
            [
                [
                    "the same, reading and chunking on threads of one process",
                    f"{lx['reading_on_threads_s']} s ({lx['reading_on_threads_s_runs']})",
                    f"interleaved with the row above; the app reads big batches in "
                    f"{lx['worker_processes']} worker process(es): "
                    f"**{lx['reading_on_threads_s'] / lx['seconds']:.2f}x faster** "
                    "(tree-sitter and the chunker hold the GIL)",
                ]
            ]
            if "reading_on_threads_s" in lx
            else []
        ),
        [
            "second index of the whole tree, unchanged",
            f"{lx['second_index_unchanged_s']} s",
            "stat only: no file re-read",
        ],
        [
            "embedding: pipeline (embed_pending)",
            f"{em['pipeline_chunks_per_s']} chunks/s",
            f"{em['chunks']} chunks (mean {em['mean_chars']} chars), batch {em['batch_size']}, "
            f"{em['threads']} threads, runs {em['pipeline_s_runs']} s (sessions warmed first)",
        ],
        [
            "embedding: pipeline, first pass of a fresh model session",
            f"{em.get('pipeline_cold_chunks_per_s', '-')} chunks/s",
            f"{em.get('pipeline_cold_s', '-')} s: the ONNX memory arena grows on new shapes",
        ],
        [
            "embedding: bare fastembed, same texts and order",
            f"{em['bare_chunks_per_s']} chunks/s",
            f"runs {em['bare_s_runs']} s; **pipeline/bare = {em['ratio_pipeline_to_bare']}**",
        ],
        [
            "embedding: bare fastembed, texts sorted by length",
            f"{em['bare_sorted_chunks_per_s']} chunks/s",
            f"runs {em['bare_sorted_s_runs']} s; "
            f"{em['ratio_sorted_to_unsorted_bare']}× the unsorted rate",
        ],
        [
            "second index, unchanged tree (stat only)",
            f"{ri['unchanged']['seconds']} s",
            f"{ri['files']} files, {ri['chunks']:,} chunks; "
            f"embeddings computed {ri['unchanged']['chunks_embedded']}",
        ],
        [
            "second index, every file re-read (`index --full`)",
            f"{ri['unchanged_full_reread']['seconds']} s",
            f"embeddings computed {ri['unchanged_full_reread']['chunks_embedded']}, "
            f"from the cache {ri['unchanged_full_reread']['chunks_from_cache']}; "
            "unchanged chunks keep their rows and vectors",
        ],
        [
            "10 files touched (mtime only)",
            f"{ri['touched_10']['seconds']} s",
            f"files re-indexed {ri['touched_10']['files_indexed']}, "
            f"embeddings computed {ri['touched_10']['chunks_embedded']}",
        ],
        [
            "10 files edited (a line appended to each)",
            f"{ri['edited_10']['seconds']} s",
            f"chunks re-embedded **{ri['edited_10']['chunks_embedded']}**, "
            f"from the cache {ri['edited_10']['chunks_from_cache']}, vectors kept "
            f"{_kept(ri['edited_10']):,}",
        ],
        [
            "peak RSS, lexical index of the whole tree (CLI)",
            f"{mem['lexical_index_whole_tree']['peak_rss_mb']} MB",
            f"{mem['lexical_index_whole_tree']['seconds']} s",
        ],
        [
            "peak RSS, index + embed a small tree (CLI)",
            f"{mem['index_and_embed_small_tree']['peak_rss_mb']} MB",
            f"{em['chunks']} chunks, {mem['index_and_embed_small_tree']['seconds']} s",
        ],
        [
            "idle RSS, engine open",
            f"{mem['idle_engine_open_mb']} MB",
            "read-only engine on the embedded tree",
        ],
        [
            "idle RSS, after the model loaded and one search",
            f"{mem['idle_after_model_and_search_mb']} MB",
            "",
        ],
    ]
    size_rows = [
        ["tantivy (lexical)", sz["tantivy_kb_per_1000_chunks"], f"{sz['tantivy_bytes']:,}"],
        ["hnswlib (vectors)", sz["hnswlib_kb_per_1000_chunks"], f"{sz['hnswlib_bytes']:,}"],
    ]
    if "pgvector_kb_per_1000_chunks" in sz:
        size_rows.append(
            [
                "pgvector (pg_total_relation_size, table + HNSW index)",
                sz["pgvector_kb_per_1000_chunks"],
                f"{sz['pgvector_bytes']:,} ({sz['pgvector_rows']:,} rows)",
            ]
        )
    size_rows.append(
        [
            "catalog (SQLite: texts, embedding cache)",
            sz["catalog_kb_per_1000_chunks"],
            f"{sz['catalog_sqlite_bytes']:,}",
        ]
    )
    return f"""## 5. Indexing: speed, memory, size

Whole tree: the standard library's Python files ({lx["tree"]}). Re-indexing, memory and
sizes: the embedded tree, a copy of the identifier subset ({ri["files"]} files,
{ri["chunks"]:,} chunks) whose embedding cache is seeded from the identifier benchmark
(embedding throughput is measured on its own, below). Medians of {s["reps"]} runs.

{_table(["measure", "result", "detail"], rows)}

Index size on disk for {sz["chunks"]:,} chunks:

{_table(["store", "KiB per 1,000 chunks", "bytes"], size_rows)}"""


def _kept(run: dict[str, Any]) -> int:
    """Chunks of the re-read files whose rows and vectors stayed as they were."""
    return int(run.get("chunks_added", 0) - run["chunks_embedded"] - run["chunks_from_cache"])


def _before_after(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """Fixes made from these measurements: the same benchmark before and after them."""
    if before is None or after is None:
        return ""

    def row(label: str, get: Any, unit: str) -> list[Any]:
        b, a = get(before), get(after)
        return [label, f"{b} {unit}", f"{a} {unit}", f"{b / a:.1f}×" if a else "-"]

    lat = "query_latency"
    rows = [
        row("hybrid search p50 (hnswlib)", lambda d: d[lat]["hnswlib"]["hybrid"]["p50_ms"], "ms"),
        row("catalog rows p50", lambda d: d[lat]["hnswlib"]["catalog_rows"]["p50_ms"], "ms"),
        row("hybrid search p50 (pgvector)", lambda d: d[lat]["pgvector"]["hybrid"]["p50_ms"], "ms"),
        row(
            "embedding, pipeline (warm), seconds for the same chunks",
            lambda d: median_of(d["embedding_throughput"]["pipeline_s_runs"]),
            "s",
        ),
        row("lexical index, whole tree", lambda d: d["lexical_indexing"]["seconds"], "s"),
        row(
            "second index, every file re-read (`index --full`)",
            lambda d: d["reindexing"]["unchanged_full_reread"]["seconds"],
            "s",
        ),
        row("10 files edited", lambda d: d["reindexing"]["edited_10"]["seconds"], "s"),
        row(
            "peak RSS, index + embed a small tree",
            lambda d: d["memory"]["index_and_embed_small_tree"]["peak_rss_mb"],
            "MB",
        ),
    ]
    batch = after["embedding_throughput"].get("batch_size")
    return f"""### Before and after the fixes these measurements led to

`docs/benchmarks/speed_before.json` is this benchmark run at {before["machine"]["date"]}, before
the lead's commits 9cecdad (embed pending chunks in batches of similar length, indexer.py)
and 9292c4d (look up result chunks by primary key, catalog.py), both made from findings
below (and before 97c88cf, embedding batch 16 to 4, ef53d2a, chunks whose text did
not change keep their rows and vectors when a file is re-read, and 391d060, big batches
read and chunked in worker processes); `speed.json` is the run after them
(batch {batch}, {after["machine"]["date"]}). In the lexical index row, between the runs
8608e0d also made chunks list the names they define (one more tree-sitter query per file,
three more fields), which costs part of what the worker processes gained; the second row
of the table above, which compares the two ways of reading within one run, measures them.

{_table(["measure", "before", "after", "before / after"], rows)}"""


def median_of(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _embedding_memory(m: dict[str, Any] | None) -> str:
    if m is None:
        return ""
    rows = [
        [r["batch"], r["order"], r["chunks_per_s"], r["peak_rss_mb"], r["rss_after_load_mb"]]
        for r in m["runs"]
    ]
    table = _table(["batch", "order", "chunks/s", "peak RSS MB", "RSS after model load MB"], rows)
    return f"""### Where the embedding peak comes from

Bare fastembed on the same {m["chunks"]} chunk texts (mean {m["mean_chars"]} characters),
{m["threads"]} threads, each row in its own process (`{m["command"]}`; load average at start
{m["machine"]["load_average_at_start"]}):

{table}

Peak memory grows with the batch size (about 120 MB per text in a batch of texts padded
to 256 tokens), not with the order; time is dominated by padding, so texts sorted by length
in small batches are both fast and small."""


def _queries(s: dict[str, Any] | None) -> str:
    if s is None or "query_latency" not in s:
        return "## 6. Query latency\n\n" + _missing("speed", "python -m tests.benchmarks.speed")
    lat = s["query_latency"]
    kinds = {
        "lexical": "lexical (tantivy, top 100)",
        "semantic": "semantic (embed the query + vector search, top 100)",
        "hybrid": "hybrid (Engine.search + results: what the search box does)",
        "refusion": "re-fusion for a new α (the slider)",
        "catalog_rows": "of which: catalog rows for the candidates",
    }
    rows = [
        [
            label,
            lat["hnswlib"][k]["p50_ms"],
            lat["hnswlib"][k]["p95_ms"],
            lat.get("pgvector", {}).get(k, {}).get("p50_ms", "-"),
            lat.get("pgvector", {}).get(k, {}).get("p95_ms", "-"),
        ]
        for k, label in kinds.items()
    ]
    q = lat["queries"]
    rg_rows = []
    for name, label in (
        ("ripgrep_embedded_tree", "embedded tree (188 files)"),
        ("ripgrep_whole_tree", "whole tree (.py files)"),
    ):
        r = lat.get(name)
        if r and "rg" in r:
            rg_rows.append(
                [
                    label,
                    r["rg"]["p50_ms"],
                    r["app_lexical"]["p50_ms"],
                    r["rg_p50_over_app_lexical_p50"],
                    r.get("app_hybrid", {}).get("p50_ms", "-"),
                    r.get("rg_p50_over_app_hybrid_p50", "-"),
                ]
            )
    plan = lat.get("catalog_rows_plan", {})
    plan_text = ""
    if plan:
        plan_text = (
            "\n\nThe catalog's `chunk_rows` query as first written (before 9292c4d) for one "
            f"search's {plan['ids']} candidates: {plan['as_written']['median_ms']} ms "
            f"(plan: {'; '.join(plan['as_written']['plan'])}) "
            f"against {plan['plus_f_state']['median_ms']} ms with `+f.state` "
            f"(plan: {'; '.join(plan['plus_f_state']['plan'])}). See the findings."
        )
    rg_headers = ["tree", "rg p50 ms", "app lexical p50 ms", "rg / app lexical"]
    rg_table = _table([*rg_headers, "app hybrid p50 ms", "rg / app hybrid"], rg_rows)
    return f"""## 6. Query latency

{q["identifiers"]} identifier names and {q["prose"]} sentences (CoSQA dev questions) on the
embedded tree, each kind timed per query; p50 and p95 in ms, medians over {s["reps"]} passes.
Same index with hnswlib (embedded) and pgvector (a real PostgreSQL 18 + pgvector server
started by `tests/fixtures_pg.py`'s `PgTestServer`).

{_table(["kind", "hnswlib p50", "hnswlib p95", "pgvector p50", "pgvector p95"], rows)}

Literal identifier queries against ripgrep (`rg -w -l -F NAME TREE`), interleaved in one run.
Not the same work: the app answers from its index, built beforehand (§5), where ripgrep
reads every file each time; app lexical is tantivy's top 100, app hybrid is the whole
search box (query embedding, both searches, catalog rows, fusion, snippets):

{rg_table}{plan_text}"""


def _freshness(f: dict[str, Any] | None) -> str:
    if f is None:
        return "## 7. Freshness\n\n" + _missing("freshness", "python -m tests.benchmarks.freshness")
    lx, sm = f["write_to_lexical"], f["write_to_semantic"]
    stats = ("p50_ms", "p95_ms", "mean_ms", "n")
    table = _table(
        ["found", "p50 ms", "p95 ms", "mean ms", "n"],
        [
            ["lexically (top hit is the new function)", *(lx[k] for k in stats)],
            ["semantically (top semantic hit for its sentence)", *(sm[k] for k in stats)],
        ],
    )
    return f"""## 7. Freshness

`IndexingService` with its watcher on {f["files"]} files; {f["edits"]} edits, each appending a
function with a new name and a new docstring sentence. From the write (file closed) to:

{table}

Timeouts: {f["timeouts"]}. The lexical figure is mostly the watcher's debounce (0.3 s, so
one save's several events become one change); the semantic one adds embedding the
changed chunks, which the indexer starts as soon as the change set is stored (it used to
wait for its next idle poll, 0.2 s later: p50 555 ms, p95 566 ms before that change)."""


def _watcher_table(w: dict[str, Any]) -> str:
    rows = [
        [
            config,
            f"{v['median_s']} s",
            v["ratio_to_no_watcher"],
            ", ".join(str(n) for n in v["overflows_per_run"]),
        ]
        for config, v in w["summary"].items()
    ]
    headers = ["indexer", "lexically searchable (median)", "time / no watcher"]
    return _table([*headers, "queue overflows per run"], rows)


def _watcher_load(w: dict[str, Any] | None, before: dict[str, Any] | None) -> str:
    if w is None:
        return "### The watcher while a large tree indexes\n\n" + _missing(
            "watcher_load", "python -m tests.benchmarks.watcher_load"
        )
    files = next(iter(w["summary"].values()))["files"]
    runs = len(next(iter(w["runs"].values())))
    earlier = ""
    if before is not None:
        earlier = f"""

The same benchmark at {before["machine"]["date"]}, when every folder was still watched
(`__pycache__` and `site-packages` included; the overflows came from those folders, where
the benchmark's own interpreter imports from, though which reads filled the queue was not
traced):

{_watcher_table(before)}"""
    return f"""### The watcher while a large tree indexes

`IndexingService` adds the standard library ({files:,} files) and runs until it is
lexically searchable, {runs} runs of each configuration, interleaved in one run
({w["machine"]["date"]}; folders skipped by name or by ignore rules get no watch;
big runs chunked in worker processes):

{_watcher_table(w)}{earlier}

Asked for every event, inotify queues an open and a close-without-write for each file
read in a watched folder, by the indexer or by anything else, and the kernel's queue
(16,384 events) overflowed: events are dropped, edits made meanwhile among them, and
watchdog re-walks the whole tree to rebuild its watches. The watcher now asks only for the
events that can change content (watcher.py `_SUBSCRIBED`), skipped folders get no watch
(watch_observer.py: 170 watches for this tree instead of 8,702), and when the queue
overflows all the same (a burst of real writes, say a branch switch), the indexer compares
every folder with the disk (a stat per unchanged file). Between the configurations the
times differ by less than the machine's drift from run to run (about 10%)."""


def _desktop() -> str:
    """The section for a file that has none yet; once written, it is kept as it stands
    (`_keep_hand_written`)."""
    return f"## 8. Desktop\n\n{DESKTOP_BEGIN}\n{DESKTOP_PENDING}\n{DESKTOP_END}"


def _batch_memory(m: dict[str, Any] | None) -> str:
    if m is None:
        return "Run `python -m tests.benchmarks.embedding_memory` to see where it comes from."
    peaks = {r["batch"]: r["peak_rss_mb"] for r in m["runs"] if r["order"] == "by length"}
    shown = ", ".join(f"batch {b}: {mb:,} MB" for b, mb in sorted(peaks.items()))
    return (
        f"The peak follows the batch size ({shown}; bare fastembed). With texts sorted by "
        "length a batch of 4 to 8 loses little or no speed (see the table in section 5); "
        "`embed_pending` sorts by length since 9cecdad. The default `embed_batch_size` is "
        f"now {Settings().embed_batch_size} (it was 16)."
    )


def _cosqa_search_ms(data: dict[str, Any]) -> str:
    c = data["cosqa"]
    if c is None:
        return "(not measured)"
    searches = c["corpus"]["queries"] * len({k.split("/")[1] for k in c["grid"]})
    return f"{c['grid_time']['search_s'] / searches * 1000:.0f} ms"


def _findings(data: dict[str, Any]) -> str:
    items = []
    s, t, i = data["speed"], data["tuning"], data["identifiers"]
    if s is not None:
        # The first two were fixed from these findings: their figures are from before.
        base = data["speed_before"] or s
        fixed = data["speed_before"] is not None
        plan = base["query_latency"].get("catalog_rows_plan")
        lat = base["query_latency"]["hnswlib"]
        if plan:
            items.append(
                ("**Fixed (9292c4d).** " if fixed else "")
                + "**Catalog query plan (catalog.py `chunk_rows`).** With hundreds of ids in "
                "`c.id IN (...)`, SQLite started from the `files_state` index and scanned every "
                f"indexed file: {plan['as_written']['median_ms']} ms for {plan['ids']} ids on "
                f"this tree, {plan['plus_f_state']['median_ms']} ms with `+f.state = 'indexed'`. "
                f"It was {lat['catalog_rows']['p50_ms']} ms of the hybrid's "
                f"{lat['hybrid']['p50_ms']} ms here, and grows with the number of indexed "
                f"files: the CoSQA grid (6,267 files) spent {_cosqa_search_ms(data)} per search, "
                "nearly all of it in this query (profiled with cProfile while tuning)."
                + (" Before and after: section 5." if fixed else "")
            )
        em = base["embedding_throughput"]
        items.append(
            ("**Fixed (9cecdad).** " if fixed else "")
            + "**Embedding batches mixed lengths (indexer.py `embed_pending`).** fastembed pads "
            "a batch to its longest text; the same texts sorted by length embed "
            f"{em['ratio_sorted_to_unsorted_bare']}× faster than in file order, and sorted "
            "only within each step of 64 pending chunks (sorting `hashes` by text length in "
            f"`embed_pending`, one line) {em['ratio_step_sorted_to_unsorted_bare']}×."
            + (" Before and after: section 5." if fixed else "")
        )
        mem, mem_before = s["memory"], base["memory"]
        batch = s["embedding_throughput"].get("batch_size")
        batch_before = base["embedding_throughput"].get("batch_size")
        items.append(
            "**Fixed (97c88cf). Peak memory while embedding (settings "
            "`embed_batch_size`).** Peak while indexing and embedding a small tree: "
            f"{mem_before['index_and_embed_small_tree']['peak_rss_mb']} MB at batch "
            f"{batch_before} (speed_before.json), "
            f"{mem['index_and_embed_small_tree']['peak_rss_mb']} MB at batch {batch} "
            f"(speed.json), against {mem['idle_after_model_and_search_mb']} MB with the model "
            "loaded. " + _batch_memory(data.get("embedding_memory"))
        )
    if i is not None:
        items.append(
            "**Fixed (8608e0d). Windows of a long definition.** Every window after the "
            "first repeats the signature and carries the same symbol, so a later window "
            "could outrank the one holding the `def` line (`urlopen` opened at line 199 "
            "instead of 139). Only the window holding the signature now names the "
            "definition (`Chunk.names`, section 3)."
        )
    w = data.get("watcher_load_before") or data.get("watcher_load")
    if w is not None:
        every = w["summary"]["watcher, every event"]
        only = w["summary"]["watcher, content events only"]
        items.append(
            "**Fixed (b521384). The watcher was flooded by file reads.** "
            "Indexing the standard library with the watcher on overflowed the kernel's "
            f"inotify queue {statistics.median(every['overflows_per_run']):.0f} times per run "
            "(each overflow drops events, so edits made while a large folder indexed could "
            f"be missed) and took {every['ratio_to_no_watcher']}× the time without a watcher; "
            f"asking only for content events: "
            f"{statistics.median(only['overflows_per_run']):.0f} overflows, "
            f"{only['ratio_to_no_watcher']}×. Skipped folders now get no watch at all, and "
            "an overflow triggers a check of every folder against the disk (section 7)."
        )
    lx = s["lexical_indexing"] if s is not None else {}
    if "reading_on_threads_s" in lx:
        items.append(
            "**Fixed (391d060). Indexing used one core of two.** tree-sitter's parser "
            "(py-tree-sitter 0.26 keeps the GIL while parsing) and the chunker's Python code "
            "held the GIL, so the reading threads and the writer took turns: indexing the "
            "standard library used 1.1 cores (user + system time over wall time, measured "
            "with `resource.getrusage`), and the writer's SQLite calls waited for the GIL "
            "(7.4 s of 15 s in cProfile, against 0.8 s for the same inserts alone; both "
            "exploratory, not part of the benchmark). Runs of "
            "400 files or more are now read and chunked in worker processes: lexically "
            f"searchable in {lx['seconds']} s against {lx['reading_on_threads_s']} s on "
            f"threads in the same run ({lx['reading_on_threads_s'] / lx['seconds']:.2f}x). "
            "A side effect for the desktop app: the parsing no longer competes with the "
            "window's thread for the GIL (section 8)."
        )
    if t is not None and t.get("defaults", {}).get("beats_both_single_modes_on_cosqa") is False:
        items.append(
            "**CoSQA: the hybrid does not beat semantic only on MRR@10.** Across 3 rules x 4 "
            "depths x 11 weights (cosqa.json) no fused ranking beats semantic only; the best "
            "weight chosen per query afterwards (an oracle) would reach "
            f"{t['auto_weight']['on'].get('cosqa_oracle_MRR@10', float('nan')):.3f}, so the "
            "lexical side is right on some queries, but nothing tells in advance which: "
            "wherever its first result differs from the semantic one, the semantic one is "
            "right more often (section 3), eval.py's own BM25 fused the same way does no "
            "better, and neither did a lexical tie-break among near-equal cosines, name-word "
            "overlap, or a pairwise logistic ranker over both sides' scores and ranks "
            "(2-fold cross-validated: 0.53; exploratory, not in tuning.py), nor semantic "
            "feedback from the chunks both sides agree on, nor fusion from fixed floors "
            "instead of each query's own range (both in section 3). A signal this project "
            "cannot get here would be needed: a code-trained embedding model or a "
            "cross-encoder re-ranker, both only on model hubs, which this machine cannot "
            "reach (only package registries). The default "
            "keeps α = 0.8 for sentences: within noise of semantic only on MRR@10 and "
            "nDCG@10, ahead of both single modes on Recall@10."
        )
    body = "\n\n".join(f"{n}. {text}" for n, text in enumerate(items, 1)) or "_None yet._"
    return f"## Findings for the lead\n\n{body}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Rewrite BENCHMARKS.md from docs/benchmarks/*.json")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    args = p.parse_args(argv)
    print(refresh(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
