"""BENCHMARKS.md's section on the default embedding models, from models.json (quality on
CoSQA, tests/benchmarks/models.py) and models_cost.json (throughput, memory, latency,
size, tests/benchmarks/models_cost.py). Called by report.refresh."""

from __future__ import annotations

from typing import Any

# Numbered after the hand-kept sections (8 desktop ... 13), which others refer to by number.
TITLE = "## 15. The default embedding models"

LABELS = {
    "minilm_old_512": "all-MiniLM-L6-v2, the previous file (int8 storage, fp32 kernels)",
    "minilm_q_512": "all-MiniLM-L6-v2, integer kernels (**fast**)",
    "minilm_q_256": "all-MiniLM-L6-v2, integer kernels, cut at 256 tokens",
    "bge_512": "bge-small-en-v1.5 int8",
    "bge_256": "bge-small-en-v1.5 int8, cut at 256 tokens",
    "fused minilm_q_512+bge_512": "both, mean of the cosines (**default**)",
    "fused minilm_q_512+bge_512 weight 0.3": "both, weights 0.3 / 0.7",
    "fused minilm_q_512+bge_512 weight 0.7": "both, weights 0.7 / 0.3",
    "fused minilm_q_256+bge_512": "both, MiniLM cut at 256 tokens",
    "fused minilm_q_256+bge_256": "both, both cut at 256 tokens",
    "fused minilm_old_512+bge_512": "both, with the previous MiniLM file",
    "old documents, new queries (minilm 512)": (
        "MiniLM: documents by the previous file, queries by the new one (a migrated cache)"
    ),
    "half MiniLM only, filled with zeros": (
        "half the files with MiniLM's vector only (other half zeros), the rest both"
    ),
    "half MiniLM only, filled with mean bge vector": (
        "half the files with MiniLM's vector only (other half the mean bge vector), the rest both"
    ),
}


def section(models: dict[str, Any] | None, cost: dict[str, Any] | None) -> str:
    if models is None and cost is None:
        return (
            f"{TITLE}\n\n_Not measured yet: run `python -m tests.benchmarks.models` and "
            "`python -m tests.benchmarks.models_cost`._"
        )
    parts = [TITLE]
    if models is not None:
        parts.append(_quality(models))
    if cost is not None:
        parts.append(_cost(cost))
    return "\n\n".join(parts)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _quality(m: dict[str, Any]) -> str:
    results = m["results"]
    sub = m.get("sub_corpus", {})
    lines = [
        f"CoSQA dev, {m['queries']} queries, exact ranking by dot product over every chunk "
        f"(no store), a file's chunks counted once, scored by eval.py (top 10). `full`: all "
        f"{m['chunks']:,} chunks; `sub`: the {sub.get('functions', '?'):,} functions holding "
        "every labelled answer plus the first others (its figures run higher; variants "
        "other than the two shipped files were embedded only there). Load average at "
        f"start {m['machine']['load_average_at_start']}, {m['machine']['date']}.",
        "",
        _row(["corpus", "model", "MRR@10", "Recall@10", "nDCG@10"]),
        "|---|---|---|---|---|",
    ]
    for key, r in results.items():
        scope, name = key.split(": ", 1)
        lines.append(
            _row(
                [
                    scope,
                    LABELS.get(name, name),
                    f"{r['MRR@10']:.3f}",
                    f"{r['Recall@10']:.3f}",
                    f"{r['nDCG@10']:.3f}",
                ]
            )
        )
    comparisons = m.get("comparisons", {})
    if comparisons:
        lines += [
            "",
            "Paired differences in MRR@10 (bootstrap over the queries, 95 % interval):",
            "",
            _row(["comparison", "Δ MRR@10", "95 % interval", "queries better / worse"]),
            "|---|---|---|---|",
        ]
        for key, c in comparisons.items():
            lines.append(
                _row(
                    [
                        key,
                        f"{c['delta']:+.4f}",
                        f"{c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}",
                        f"{c['better']} / {c['worse']}",
                    ]
                )
            )
    scales = m.get("findings", {}).get("cosine_scales")
    if scales:
        lines += [
            "",
            "The two models' cosines sit on different scales (mean over the queries): "
            f"MiniLM's top 10 {scales['minilm_mean_top10']}, bge's {scales['bge_mean_top10']}; "
            f"over all chunks {scales['minilm_mean_all']} and {scales['bge_mean_all']}. Half a "
            "fused vector padded with zeros therefore sinks a chunk that has only MiniLM's "
            "vector; padded with the corpus's mean bge vector it ranks as MiniLM alone would "
            "(rows above). The code stores no partial vector: such a chunk stays pending "
            "(core/indexing/embedding_cache.py), ranks on its lexical score, and only the missing "
            "model embeds it (tests/test_two_models.py).",
        ]
    tokens = m.get("texts_at_512_tokens_or_more")
    if tokens:
        lines += [
            "",
            "Chunk texts at the 512-token limit: "
            + ", ".join(f"{k} {v:,}" for k, v in tokens.items())
            + f" of {m['texts']:,}.",
        ]
    speed = m.get("throughput")
    if speed:
        lines += [
            "",
            f"Bare fastembed on {speed['texts']} of these chunk texts, sorted by length, batch "
            f"{speed['batch']}, 2 threads, interleaved: "
            + ", ".join(
                f"{LABELS.get(k, k)} {v} chunks/s" for k, v in speed["chunks_per_s"].items()
            )
            + (
                f"; both models take {speed['both_over_old_time']}x the time of the previous "
                "file alone."
                if "both_over_old_time" in speed
                else "."
            ),
        ]
    return "\n".join(lines)


def _cost(c: dict[str, Any]) -> str:
    lines: list[str] = []
    if "pipeline" in c:
        lines += _pipeline(c["pipeline"])
        lines.append("")
    lines += _latency_and_size(c)
    return "\n".join(lines)


def _pipeline(p: dict[str, Any]) -> list[str]:
    configs = [c for c in ("today", "fast", "both") if c in p]
    lines = [
        f"The pipeline (`embed_pending`: cache, models, store, catalog) on {p['chunks']} "
        f"standard-library chunks, each configuration in its own process, medians of "
        f"{p['reps']} interleaved runs, {p.get('date', '')} (load average at start "
        f"{p.get('load_average_at_start')}; per run: "
        + ", ".join(f"{c} {_loads(p['runs'][c])}" for c in configs)
        + f"). `today`: the code of `{p.get('today_ref', 'main')}` before this change, with "
        "its default (MiniLM, int8 storage, fp32 kernels, batches of 4 on 2 intra-op "
        "threads). CPU s: the process's CPU time for the pass, less sensitive to the "
        "machine's load than the wall time.",
        "",
        _row(
            [
                "configuration",
                "wall s",
                "chunks/s",
                "throughput vs today",
                "CPU s",
                "peak RSS MB",
                "RSS after load MB",
            ]
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        r = p[config]
        lines.append(
            _row(
                [
                    config,
                    r["seconds"],
                    r["chunks_per_s"],
                    f"{p['throughput_vs_today'][config]:.2f}x",
                    r.get("cpu_s", "-"),
                    r["peak_rss_mb"],
                    r["rss_after_load_mb"],
                ]
            )
        )
    return lines


def _loads(runs: list[dict[str, Any]]) -> str:
    return "/".join(f"{r.get('load_average', float('nan')):.0f}" for r in runs)


def _latency_and_size(c: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    lat = c.get("query_latency")
    if lat:
        lines += [
            "",
            "The search box (`Engine.search` + `results` at the default weight) on the CoSQA "
            "index, 100 CoSQA questions and 100 function names, medians of the passes:",
            "",
            _row(["configuration / store", "p50 ms", "p95 ms"]),
            "|---|---|---|",
        ]
        for key, r in lat.items():
            lines.append(_row([key, r["p50_ms"], r["p95_ms"]]))
    sizes = c.get("sizes")
    if sizes:
        lines += [
            "",
            f"Vector index size for the {sizes['chunks']:,} CoSQA chunks (KiB per 1,000 chunks):",
            "",
            _row(
                [
                    "configuration / store",
                    "KiB per 1,000 chunks",
                    "halfvec KiB per 1,000",
                    "halfvec top-10 overlap",
                    "same first result",
                ]
            ),
            "|---|---|---|---|---|",
        ]
        for key, r in sizes.items():
            if key == "chunks":
                continue
            ranking = r.get("halfvec_ranking", {})
            lines.append(
                _row(
                    [
                        key,
                        r["kb_per_1000_chunks"],
                        r.get("halfvec_kb_per_1000_chunks", "-"),
                        ranking.get("mean_top10_overlap", "-"),
                        f"{ranking['same_first_result']} / {ranking['queries']}"
                        if ranking
                        else "-",
                    ]
                )
            )
    return lines
