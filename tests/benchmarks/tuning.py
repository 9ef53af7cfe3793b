"""Relevance tuning: each change measured on both benchmarks, kept only if it wins on both.

    .venv/bin/python -m tests.benchmarks.tuning [--embedding-variants]

Needs the indexes that `tests.benchmarks.cosqa` and `tests.benchmarks.identifiers` built
(bench-work/cosqa, bench-work/identifiers). Compares, through the app's own search:

- lexical field boosts: the original FIELD_BOOSTS against the tuned ones (lexical only, and
  the hybrid at the default weight);
- the query-reading weight (core/ranking/search.py `query_weight`) on and off, at every weight;
- a query-building rule that was tried and lost (ALL-CAPS words skip the symbol fields);
- fusion from fixed floors (BM25 from 0, cosine from -1 or 0) against per-query min-max;
- a change to the lexical documents the lead can make (module chunks list the names they
  assign, as their symbol), measured on a lexical-only copy of the identifier index;
- with --embedding-variants: the text fed to the model (identifier words split, name
  prefixed, natural-language parts only), on a 2,000-function CoSQA sub-corpus (all 500
  answers + 1,500 others, fixed seed), semantic only and hybrid. About 5 minutes.

Finally it checks the chosen defaults (core/settings.py) against the grids in
docs/benchmarks/cosqa.json and identifiers.json.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.indexing.embedding_cache import EmbeddingCache
from codanna_desktop.core.ranking import lexical_query as lexical
from codanna_desktop.core.ranking import search
from codanna_desktop.core.ranking.fusion import fuse
from codanna_desktop.core.ranking.query_shape import FUNCTION_WORDS, is_identifier_query
from codanna_desktop.core.ranking.search import SearchResult
from codanna_desktop.core.settings import Settings
from tests.benchmarks import cosqa, identifiers, report
from tests.benchmarks.relevance import ALPHAS, Config, Query, Runs, run_grid, unique
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    WORK_DIR,
    machine,
    open_engine,
    paired,
    patched,
    read_json,
    write_json,
)

ORIGINAL_BOOSTS = {
    "symbol_ident": 4.0,
    "symbol": 2.5,
    "symbol_phrase": 4.0,
    "body_ident": 1.5,
    "body": 1.0,
    "body_phrase": 1.5,
    "path": 1.0,
}
SUB_CORPUS_OTHERS = 1500
_ALL_CAPS = re.compile(r"^[A-Z][A-Z0-9]*_[A-Z0-9_]*$|^[A-Z]{2,}[0-9]*$")


@contextmanager
def updated(table: dict[str, float], values: dict[str, float]) -> Iterator[None]:
    """`table` (a module's tuning constants) with `values` changed, restored afterwards."""
    saved = dict(table)
    table.update(values)
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


def boosts(values: dict[str, float]) -> Any:
    return updated(lexical.FIELD_BOOSTS, values)


def _rel_path(r: SearchResult) -> str:
    return r.path


def _chunk_id(r: SearchResult) -> int:
    return r.chunk_id


class Bench:
    """Both benchmarks loaded once: queries, judgements and read-only engines."""

    def __init__(
        self,
        stack: Any,
        cosqa_dir: Path,
        cosqa_work: Path,
        ident_work: Path,
        per_form: int | None,
        limit_queries: int | None,
    ) -> None:
        self.evaluator = cosqa.load_eval(cosqa_dir)
        corpus = self.evaluator.read_jsonl(str(cosqa_dir / "corpus.jsonl"))
        self.corpus = corpus
        queries = self.evaluator.read_jsonl(str(cosqa_dir / "dev_queries.jsonl"))
        self.cq = queries[:limit_queries]
        self.path_to_id = {d["path"]: d["id"] for d in corpus}
        self.cosqa_engine: Engine = stack.enter_context(
            open_engine(cosqa_work / "home", writer=False)
        )
        self.ident_root = ident_work / "stdlib"
        root = self.ident_root
        per = dict.fromkeys(identifiers.PER_FORM, per_form) if per_form else identifiers.PER_FORM
        self.iq = identifiers.make_queries(identifiers.definitions(root), per)
        self.ident_engine: Engine = stack.enter_context(
            open_engine(ident_work / "home", writer=False)
        )
        self.relevant = identifiers.relevant_chunks(self.ident_engine, root, self.iq)
        self.cosqa_paths = self._chunk_paths(self.cosqa_engine)

    @staticmethod
    def _chunk_paths(engine: Engine) -> dict[int, str]:
        out = {}
        for root in engine.catalog.roots():
            for rel, f in engine.catalog.files_of_root(root.id).items():
                for chunk_id in engine.catalog.chunk_ids_of_files([f.id]):
                    out[chunk_id] = rel
        return out

    def cosqa_score(self, ranked: dict[str, list[str]]) -> dict[str, float]:
        return cosqa.score(self.evaluator, self.cq, ranked, self.path_to_id)

    def lexical_only(self, rewrite: Callable[[str], str] = lambda q: q) -> dict[str, float]:
        """Lexical side alone (tantivy top hits), both benchmarks; `rewrite` changes the
        CoSQA query text first (to try query-building ideas)."""
        c = {
            q["qid"]: [
                self.cosqa_paths[h.chunk_id]
                for h in self.cosqa_engine.lexical.search(
                    lexical.build_query(rewrite(q["query"])), 15
                )
            ]
            for q in self.cq
        }
        i = {
            q.qid: [
                h.chunk_id
                for h in self.ident_engine.lexical.search(lexical.build_query(q.text), 10)
            ]
            for q in self.iq
        }
        ident = identifiers.score(i, self.relevant, self.iq)
        return {
            "cosqa_MRR@10": round(self.cosqa_score(c)["MRR@10"], 4),
            "ident_success@1": ident["success@1"],
            "ident_MRR@10": ident["MRR@10"],
        }

    def default_runs(self, alphas: Sequence[float]) -> tuple[Runs[str], Runs[int]]:
        """Both benchmarks through the app's search at the default rule and depth, for
        each weight: CoSQA's ranked paths, the identifier lookups' ranked chunk ids."""
        s = Settings()
        cq = [Query(q["qid"], q["query"]) for q in self.cq]
        iq = [Query(q.qid, q.text) for q in self.iq]
        rules, depths = [s.fusion], [s.candidates_per_side]
        c_runs, _ = run_grid(
            self.cosqa_engine, cq, _rel_path, rules=rules, depths=depths, alphas=alphas, k=15
        )
        i_runs, _ = run_grid(
            self.ident_engine, iq, _chunk_id, rules=rules, depths=depths, alphas=alphas, k=10
        )
        return c_runs, i_runs

    def hybrid(self, alphas: Sequence[float]) -> dict[str, dict[str, float]]:
        """The app's search at the default rule and depth, for each weight."""
        s = Settings()
        c_runs, i_runs = self.default_runs(alphas)
        out: dict[str, Any] = {}
        rr: dict[str, list[float]] = {}
        for alpha in alphas:
            key = Config(s.fusion, s.candidates_per_side, alpha)
            for q in self.cq:
                ids = [self.path_to_id.get(p, p) for p in unique(c_runs[key].get(q["qid"], []))]
                rank = next((n for n, d in enumerate(ids[:10], 1) if d in q["relevant"]), None)
                rr.setdefault(q["qid"], []).append(1.0 / rank if rank else 0.0)
            ident = identifiers.score(i_runs[key], self.relevant, self.iq)
            out[f"{alpha:.1f}"] = {
                "cosqa_MRR@10": round(self.cosqa_score(c_runs[key])["MRR@10"], 4),
                "ident_success@1": ident["success@1"],
                "ident_MRR@10": ident["MRR@10"],
            }
        # The best weight chosen per query afterwards: what a perfect query reader could get.
        out["cosqa_oracle_MRR@10"] = round(sum(max(v) for v in rr.values()) / len(rr), 4)
        if len(alphas) > 1 and alphas[-1] == 1.0 and len(rr) > 1:
            # Paired against semantic only: mean difference of reciprocal ranks, its standard
            # error, and how many queries went up / down.
            against_semantic = {}
            for n, alpha in enumerate(alphas[:-1]):
                diffs = [v[n] - v[-1] for v in rr.values()]
                against_semantic[f"{alpha:.1f}"] = {
                    "mean_diff": round(statistics.fmean(diffs), 4),
                    "se": round(statistics.stdev(diffs) / len(diffs) ** 0.5, 4),
                    "up": sum(d > 0 for d in diffs),
                    "down": sum(d < 0 for d in diffs),
                }
            out["cosqa_paired_vs_semantic_only"] = against_semantic
        return out


def boost_comparison(bench: Bench) -> dict[str, Any]:
    alpha = Settings().alpha
    out: dict[str, Any] = {"tuned": dict(lexical.FIELD_BOOSTS), "original": ORIGINAL_BOOSTS}
    for name, values in (("original", ORIGINAL_BOOSTS), ("tuned", dict(lexical.FIELD_BOOSTS))):
        with boosts(values):
            out[f"{name}_lexical_only"] = bench.lexical_only()
            out[f"{name}_hybrid_at_default"] = bench.hybrid([alpha])[f"{alpha:.1f}"]
        print(f"boosts {name}: {out[f'{name}_lexical_only']} {out[f'{name}_hybrid_at_default']}")
    return out


def auto_weight_comparison(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {"identifier_odds": search.IDENTIFIER_ODDS}
    out["on"] = bench.hybrid(ALPHAS)
    with patched(search, "IDENTIFIER_ODDS", 1.0):
        out["off"] = bench.hybrid(ALPHAS)
    print(f"auto weight: on {out['on']}\n off {out['off']}")
    return out


_ABBREVIATIONS = {
    "dictionary": "dict", "string": "str", "strings": "str", "integer": "int",
    "directory": "dir", "number": "num", "arguments": "args", "argument": "arg",
    "parameters": "params", "configuration": "config", "length": "len", "maximum": "max",
    "minimum": "min", "temporary": "tmp", "object": "obj", "value": "val", "message": "msg",
    "array": "arr", "error": "err", "index": "idx", "environment": "env", "boolean": "bool",
}  # fmt: skip


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def query_rewrites(bench: Bench) -> dict[str, Any]:
    """Tried on the lexical side of sentences (CoSQA), lexical only: all dropped."""
    rewrites: dict[str, Callable[[str], str]] = {
        "as typed": lambda q: q,
        "stop words removed": lambda q: " ".join(
            w for w in q.split() if w.lower() not in FUNCTION_WORDS
        ),
        "the word python removed": lambda q: " ".join(
            w for w in q.split() if w.lower() != "python"
        ),
        "stems added (plural, -ing, -ed)": lambda q: " ".join(
            q.split() + [_stem(w.lower()) for w in q.split() if _stem(w.lower()) != w.lower()]
        ),
        "code abbreviations added": lambda q: " ".join(
            q.split()
            + [_ABBREVIATIONS[w.lower()] for w in q.split() if w.lower() in _ABBREVIATIONS]
        ),
    }
    out = {name: bench.lexical_only(fn)["cosqa_MRR@10"] for name, fn in rewrites.items()}
    print(f"query rewrites (CoSQA lexical MRR@10): {out}")
    return out


def all_caps_rule(bench: Bench) -> dict[str, Any]:
    """Tried: an ALL-CAPS query word (a constant) skips the symbol fields, since module
    constants have no symbol of their own. Lexical only."""
    original = lexical._words_query

    def words_query(words: Any, lookup: bool) -> Any:
        if _ALL_CAPS.match(words.text) and not words.quoted:
            with boosts({"symbol_ident": 0.0, "symbol": 0.0, "symbol_phrase": 0.0}):
                return original(words, lookup)
        return original(words, lookup)

    before = bench.lexical_only()
    with patched(lexical, "_words_query", words_query):
        after = bench.lexical_only()
    print(f"all-caps rule: {before} -> {after}")
    return {"without": before, "with": after}


def defined_names(bench: Bench) -> dict[str, Any]:
    """Kept: the names a chunk defines (Chunk.names: a definition's own name on the window
    holding its signature, and constants/variables/enum members declared in module and
    class chunks) score for lookups (lexical.NAME_SCORES, name_phrase). Compared with the
    clauses switched off (the same index), and with names counted for sentences too."""
    alpha = Settings().alpha
    off = {"name": 0.0, "name_exact": 0.0}
    variants: dict[str, tuple[dict[str, float], dict[str, float], bool]] = {
        "without defined names": (off, {"name_phrase": 0.0}, False),
        "defined names for lookups (kept)": ({}, {}, False),
        "defined names for sentences too": ({}, {}, True),
    }
    out: dict[str, Any] = {"name_scores": dict(lexical.NAME_SCORES)}
    for name, (scores, boost, everywhere) in variants.items():
        with updated(lexical.NAME_SCORES, scores), boosts(boost), ExitStack() as stack:
            if everywhere:
                stack.enter_context(patched(lexical, "is_identifier_query", lambda q: True))
            out[name] = {
                "lexical_only": bench.lexical_only(),
                "hybrid_at_default": bench.hybrid([alpha])[f"{alpha:.1f}"],
            }
        print(f"defined names, {name}: {out[name]}")
    return out


def reference_bm25_fusion(bench: Bench) -> dict[str, Any]:
    """Is it our lexical side? eval.py's own BM25 ranking fused with the app's semantic
    candidates by the same rule, per weight (CoSQA MRR@10), next to the app's lexical.
    eval.py's BM25 returns a ranking without scores, so its side is scored by rank."""
    evaluator, engine = bench.evaluator, bench.cosqa_engine
    first_chunk: dict[str, int] = {}
    for chunk_id, path in sorted(bench.cosqa_paths.items()):
        first_chunk.setdefault(path, chunk_id)
    indexed = [d for d in bench.corpus if d["path"] in first_chunk]  # all, but in smoke runs
    bm25 = evaluator.BM25([(d["id"], d["code"]) for d in indexed], evaluator.tok_code)
    id_to_path = {d["id"]: d["path"] for d in indexed}
    depth = Settings().candidates_per_side
    alphas = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
    runs: dict[float, dict[str, dict[str, list[str]]]] = {
        a: {"app": {}, "reference": {}} for a in alphas
    }
    for q in bench.cq:
        session = engine.search(q["query"])
        reference = [
            (first_chunk[id_to_path[doc_id]], float(depth - n))
            for n, doc_id in enumerate(bm25.rank(q["query"], top=depth))
        ]
        sides = {"app": session.lexical, "reference": reference}
        for alpha in alphas:
            for name, lexical_side in sides.items():
                fused = fuse(lexical_side[:depth], session.semantic[:depth], alpha, session.fusion)
                runs[alpha][name][q["qid"]] = [bench.cosqa_paths[f.chunk_id] for f in fused[:15]]
    out = {
        f"{alpha:.2f}": {name: round(bench.cosqa_score(r)["MRR@10"], 4) for name, r in by.items()}
        for alpha, by in runs.items()
    }
    print(f"reference BM25 fused with the semantic side: {out}")
    return out


def agreement_feedback(bench: Bench) -> dict[str, Any]:
    """Semantic feedback from what the two sides agree on (Rocchio): the query vector moves
    towards the chunks in both sides' top 10, the store is searched again with it, and
    that ranking is scored alone and fused (CoSQA MRR@10). Agreement is the one confidence
    signal found (section 'When the two sides' first results differ'). As a control, the
    same feedback from the semantic first result alone (no lexical evidence)."""
    engine = bench.cosqa_engine
    embedder, store = engine.load_model(), engine.semantic.store()
    if embedder is None or store is None:
        return {}
    depth = Settings().candidates_per_side
    top = 10
    variants: dict[str, tuple[str, float]] = {
        "agreed top 10, beta 0.1": ("agreed", 0.1),
        "agreed top 10, beta 0.3": ("agreed", 0.3),
        "semantic first result, beta 0.2 (control)": ("semantic", 0.2),
    }
    alphas = (0.8, 0.9, 1.0)
    runs: dict[str, dict[float, dict[str, list[str]]]] = {
        name: {a: {} for a in alphas} for name in ["none", *variants]
    }
    agreed_queries = 0
    for q in bench.cq:
        session = engine.search(q["query"])
        lexical_top = {i for i, _ in session.lexical[:top]}
        agreed = [i for i, _ in session.semantic[:top] if i in lexical_top]
        agreed_queries += bool(agreed)
        vector = embedder.embed_query(q["query"])
        for name in runs:
            semantic = session.semantic
            source, beta = variants.get(name, ("", 0.0))
            chosen = agreed if source == "agreed" else [i for i, _ in session.semantic[:1]]
            if source and chosen:
                moved = vector + beta * _cached_vectors(engine, chosen).mean(axis=0)
                semantic = store.search(moved / np.linalg.norm(moved), depth)
            for alpha in alphas:
                fused = fuse(session.lexical[:depth], semantic[:depth], alpha, session.fusion)
                ids = [f.chunk_id for f in fused if alpha < 1.0 or f.semantic_part > 0]
                runs[name][alpha][q["qid"]] = [bench.cosqa_paths[i] for i in ids[:15]]
    out: dict[str, Any] = {
        name: {f"{a:.1f}": round(bench.cosqa_score(r)["MRR@10"], 4) for a, r in by.items()}
        for name, by in runs.items()
    }
    out["queries_with_agreement"] = agreed_queries
    out["queries"] = len(bench.cq)
    print(f"agreement feedback: {out}")
    return out


def _fixed_floor(scores: Sequence[tuple[int, float]], floor: float) -> dict[int, float]:
    """Scores divided by their distance from a fixed floor up to the query's best one."""
    if not scores:
        return {}
    top = scores[0][1]
    span = top - floor
    return {i: (s - floor) / span if span > 1e-12 else 1.0 for i, s in scores}


def fixed_floor_fusion(bench: Bench) -> dict[str, Any]:
    """Tried: normalise each side from a fixed floor instead of the query's own lowest
    candidate ("theoretical min-max", Bruch et al. 2023, "An Analysis of Fusion Functions for
    Hybrid Retrieval"): BM25 from 0, cosine from -1 or 0. Per-query min-max stretches a flat
    semantic list (a model unsure of the query) as much as a steep one; fixed floors keep the
    flatness. Both benchmarks, same candidates and query-reading weight as the app."""
    depth = Settings().candidates_per_side
    floors: dict[str, tuple[float, float] | None] = {
        "per-query min-max (app)": None,
        "BM25 from 0, cosine from -1": (0.0, -1.0),
        "BM25 from 0, cosine from 0": (0.0, 0.0),
    }
    alphas = (0.7, 0.8, 0.9, 0.95)

    def ranked(session: search.SearchSession, alpha: float, floor: tuple[float, float] | None):
        weight = session.weight(alpha)
        lexical_side, semantic_side = session.lexical[:depth], session.semantic[:depth]
        if floor is None:
            return [f.chunk_id for f in fuse(lexical_side, semantic_side, weight, session.fusion)]
        lex, sem = _fixed_floor(lexical_side, floor[0]), _fixed_floor(semantic_side, floor[1])
        scored = {i: (1 - weight) * lex.get(i, 0.0) + weight * sem.get(i, 0.0) for i in lex | sem}
        return sorted(scored, key=lambda i: (-scored[i], i))

    c_runs: dict[tuple[str, float], dict[str, list[str]]] = {}
    i_runs: dict[tuple[str, float], dict[str, list[int]]] = {}
    for q in bench.cq:
        session = bench.cosqa_engine.search(q["query"])
        for (name, floor), alpha in itertools.product(floors.items(), alphas):
            ids = ranked(session, alpha, floor)[:15]
            c_runs.setdefault((name, alpha), {})[q["qid"]] = [bench.cosqa_paths[i] for i in ids]
    for iq in bench.iq:
        session = bench.ident_engine.search(iq.text)
        for (name, floor), alpha in itertools.product(floors.items(), alphas):
            i_runs.setdefault((name, alpha), {})[iq.qid] = ranked(session, alpha, floor)[:10]
    out: dict[str, Any] = {}
    for name, alpha in c_runs:
        ident = identifiers.score(i_runs[(name, alpha)], bench.relevant, bench.iq)
        out.setdefault(name, {})[f"{alpha:.2f}"] = {
            "cosqa_MRR@10": round(bench.cosqa_score(c_runs[(name, alpha)])["MRR@10"], 4),
            "ident_success@1": ident["success@1"],
        }
    print(f"fixed-floor fusion: {out}")
    return out


def _cached_vectors(engine: Engine, chunk_ids: Sequence[int]) -> np.ndarray:
    """The stored vectors of these chunks, from the embedding cache (no model call)."""
    embedder = engine.load_model()
    assert embedder is not None
    rows = engine.catalog.chunk_rows(list(chunk_ids))
    hashes = [rows[i].text_hash for i in chunk_ids if i in rows]
    cached = EmbeddingCache(engine.catalog, embedder).ready(hashes)
    return np.stack([cached[h] for h in hashes if h in cached])


def side_disagreement(bench: Bench) -> dict[str, Any]:
    """When the two sides' first results differ, which one is right? (CoSQA, by how far
    down the semantic ranking the lexical first result sits.) A lexical side that adds
    something would be right in some bucket more often than the semantic first result."""
    engine = bench.cosqa_engine
    buckets = {"same": (1, 1), "2": (2, 2), "3-10": (3, 10), "11-100": (11, 100), "absent": (0, 0)}
    counts = {
        b: {"queries": 0, "lexical_first_right": 0, "semantic_first_right": 0} for b in buckets
    }
    ids = {p: bench.path_to_id.get(p, p) for p in bench.cosqa_paths.values()}
    for q in bench.cq:
        session = engine.search(q["query"])
        if not session.lexical or not session.semantic:
            continue
        semantic_docs = unique([ids[bench.cosqa_paths[i]] for i, _ in session.semantic])
        lexical_first = ids[bench.cosqa_paths[session.lexical[0][0]]]
        rank = semantic_docs.index(lexical_first) + 1 if lexical_first in semantic_docs else 0
        bucket = next(b for b, (lo, hi) in buckets.items() if lo <= rank <= hi)
        c = counts[bucket]
        c["queries"] += 1
        c["lexical_first_right"] += lexical_first in q["relevant"]
        c["semantic_first_right"] += semantic_docs[0] in q["relevant"]
    print(f"side disagreement: {counts}")
    return counts


def embedding_variants(bench: Bench) -> dict[str, Any]:
    """The text fed to the model, on a sub-corpus; semantic only and hybrid (min-max)."""
    engine = bench.cosqa_engine
    embedder = engine.load_model()
    assert embedder is not None, engine.model_problem
    answers = {q["relevant"][0] for q in bench.cq}
    others = [d["id"] for d in bench.corpus if d["id"] not in answers]
    keep = answers | set(random.Random(7).sample(others, min(SUB_CORPUS_OTHERS, len(others))))
    id_of = {d["path"]: d["id"] for d in bench.corpus}
    chunks = [
        (cid, row)
        for cid, row in engine.catalog.chunk_rows(sorted(bench.cosqa_paths)).items()
        if id_of[row.rel_path] in keep
    ]
    ids = [cid for cid, _ in chunks]
    cached = EmbeddingCache(engine.catalog, embedder).ready([r.text_hash for _, r in chunks])
    words = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
    ident = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    define = re.compile(r"(?:def|class)\s+([A-Za-z_]\w*)")
    docstring = re.compile(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', re.S)

    def split(text: str) -> str:
        return ident.sub(
            lambda m: " ".join(w.lower() for w in words.findall(m.group())) or m.group(), text
        )

    def name_words(text: str) -> str:
        m = define.search(text)
        return " ".join(w.lower() for w in words.findall(m.group(1))) if m else ""

    def natural(text: str) -> str:
        docs = " ".join((a or b).strip() for a, b in docstring.findall(text))
        comments = " ".join(
            line.strip().lstrip("#").strip()
            for line in text.splitlines()
            if line.strip().startswith("#")
        )
        parts = [name_words(text), split(text.splitlines()[0]), docs, comments]
        return "\n".join(p for p in parts if p)

    variants: dict[str, Callable[[str], str]] = {
        "chunk text (today)": lambda t: t,
        "identifiers split into words": split,
        "name words + chunk text": lambda t: f"{name_words(t)}\n{t}" if name_words(t) else t,
        "name + signature + docstring + comments": natural,
    }
    lex = {
        q["qid"]: [
            (h.chunk_id, h.score)
            for h in engine.lexical.search(lexical.build_query(q["query"]), 400)
        ]
        for q in bench.cq
    }
    keep_ids = set(ids)
    lex = {qid: [(c, s) for c, s in hits if c in keep_ids][:100] for qid, hits in lex.items()}
    out: dict[str, Any] = {"chunks": len(ids), "documents": len(keep)}
    for name, fn in variants.items():
        t0 = time.perf_counter()
        if name.endswith("(today)"):
            matrix = np.stack([cached[r.text_hash] for _, r in chunks])
        else:
            texts = [fn(r.text) for _, r in chunks]
            # The embedder's runner batches the texts (by length, on every core).
            matrix = embedder.embed_documents(texts)
        seconds = time.perf_counter() - t0
        sem: dict[str, list[tuple[int, float]]] = {}
        for q in bench.cq:
            scores = matrix @ embedder.embed_query(q["query"])
            top = np.argsort(-scores)[:100]
            sem[q["qid"]] = [(ids[i], float(scores[i])) for i in top]
        row: dict[str, Any] = {"embed_seconds": round(seconds, 1)}
        for alpha in (0.8, 0.9, 1.0):
            ranked = {}
            for q in bench.cq:
                fused = fuse(lex[q["qid"]], sem[q["qid"]], alpha, "minmax")
                if alpha >= 1.0:
                    sem_ids = {c for c, _ in sem[q["qid"]]}
                    fused = [f for f in fused if f.chunk_id in sem_ids]
                ranked[q["qid"]] = unique([bench.cosqa_paths[f.chunk_id] for f in fused[:15]])
            row[f"MRR@10_alpha_{alpha:.1f}"] = round(bench.cosqa_score(ranked)["MRR@10"], 4)
        out[name] = row
        print(f"embedding input {name!r}: {row}", flush=True)
    return out


# The weights the default is chosen among with both models (BENCHMARKS.md §15), and the
# random two-fold splits of the CoSQA queries it is chosen on.
CV_WEIGHTS = (0.7, 0.8, 0.9, 1.0)
CV_SPLITS = 2000
BOOTSTRAP = 10_000


def alpha_cross_validation(
    bench: Bench, weights: Sequence[float] = CV_WEIGHTS, splits: int = CV_SPLITS, seed: int = 15
) -> dict[str, Any]:
    """The default weight re-examined without choosing it on the queries it is scored on:
    for each random split of the CoSQA queries in two halves, the weight with the best
    MRR@10 on one half is scored on the other (and the other way round); the held-out
    figure of that choice is set against the default's on the same queries. Beside it, each
    weight against the default and against semantic only over all queries (paired
    bootstrap), and the identifier lookups at each weight (success@1 must stay >= 0.98).
    The app's own search at the default rule and depth; the slider's weight, bent for
    identifier-shaped queries as the app bends it (1.0 is semantic only, never bent)."""
    s = Settings()
    rng = np.random.default_rng(seed)
    c_runs, i_runs = bench.default_runs(weights)
    keys = [Config(s.fusion, s.candidates_per_side, w) for w in weights]
    rr = np.zeros((len(bench.cq), len(weights)))
    for j, key in enumerate(keys):
        for i, q in enumerate(bench.cq):
            ids = [bench.path_to_id.get(p, p) for p in unique(c_runs[key].get(q["qid"], []))]
            rank = next((n for n, d in enumerate(ids[:10], 1) if d in q["relevant"]), None)
            rr[i, j] = 1.0 / rank if rank else 0.0
    eval_py = [round(bench.cosqa_score(c_runs[key])["MRR@10"], 4) for key in keys]
    assert [round(float(m), 4) for m in rr.mean(axis=0)] == eval_py, (rr.mean(axis=0), eval_py)
    default = list(weights).index(s.alpha)
    semantic_only = list(weights).index(1.0)
    chosen = np.zeros(len(weights), dtype=int)
    gains = np.zeros(splits)
    half = len(rr) // 2
    for n in range(splits):
        order = rng.permutation(len(rr))
        folds = (order[:half], order[half:])
        held_out = 0.0
        for fit, score_on in (folds, folds[::-1]):
            best = int(np.argmax(rr[fit].mean(axis=0)))  # the first of equals
            chosen[best] += 1
            held_out += float(rr[score_on, best].sum())
        gains[n] = held_out / len(rr) - float(rr[:, default].mean())
    lookups = np.array([is_identifier_query(q["query"]) for q in bench.cq])
    ident: dict[str, Any] = {}
    for w, key in zip(weights, keys, strict=True):
        scored = identifiers.score(i_runs[key], bench.relevant, bench.iq)
        ident[f"{w:.1f}"] = {"success@1": scored["success@1"], "MRR@10": scored["MRR@10"]}
    out: dict[str, Any] = {
        "weights": list(weights),
        "default": s.alpha,
        "fusion": s.fusion,
        "candidates_per_side": s.candidates_per_side,
        "cosqa_queries": len(rr),
        "cosqa_queries_bent_as_lookups": int(lookups.sum()),
        "cosqa_MRR@10": dict(zip((f"{w:.1f}" for w in weights), eval_py, strict=True)),
        "cosqa_MRR@10_sentences": {
            f"{w:.1f}": round(float(rr[~lookups, j].mean()), 4) for j, w in enumerate(weights)
        },
        "cosqa_MRR@10_lookups": {
            f"{w:.1f}": round(float(rr[lookups, j].mean()), 4) if lookups.any() else None
            for j, w in enumerate(weights)
        },
        "vs_default": {
            f"{w:.1f}": paired(rr[:, j], rr[:, default], rng=rng, samples=BOOTSTRAP)
            for j, w in enumerate(weights)
            if j != default
        },
        "vs_semantic_only": {
            f"{w:.1f}": paired(rr[:, j], rr[:, semantic_only], rng=rng, samples=BOOTSTRAP)
            for j, w in enumerate(weights)
            if j != semantic_only
        },
        "cross_validation": {
            "splits": splits,
            "folds_choosing": {f"{w:.1f}": int(c) for w, c in zip(weights, chosen, strict=True)},
            "held_out_minus_default": {
                "mean": round(float(gains.mean()), 4),
                "split_range_95": [round(float(np.percentile(gains, q)), 4) for q in (2.5, 97.5)],
                "splits_better": int((gains > 1e-12).sum()),
                "splits_worse": int((gains < -1e-12).sum()),
            },
        },
        "identifiers": ident,
    }
    print(f"alpha cross-validation: {out}", flush=True)
    return out


def check_defaults(out_dir: Path) -> dict[str, Any]:
    """The defaults in core/settings.py against the two grids (auto weight on)."""
    s = Settings()
    c, i = read_json(out_dir, "cosqa"), read_json(out_dir, "identifiers")
    if c is None or i is None:
        return {"missing": "run tests.benchmarks.cosqa and tests.benchmarks.identifiers first"}
    key = f"{s.fusion}/{s.candidates_per_side}/{s.alpha:.1f}"
    prefix = f"{s.fusion}/{s.candidates_per_side}/"
    if key not in c["grid"] or key not in i["grid"]:
        return {"missing": f"the grids do not hold the default {key}"}
    lexical_only, semantic_only = c["grid"][prefix + "0.0"], c["grid"][prefix + "1.0"]
    best_cosqa = max(c["grid"].items(), key=lambda kv: kv[1]["MRR@10"])
    best_ident = max(i["grid"].items(), key=lambda kv: kv[1]["success@1"])
    return {
        "default": key,
        "cosqa_MRR@10": c["grid"][key]["MRR@10"],
        "cosqa_lexical_only_MRR@10": lexical_only["MRR@10"],
        "cosqa_semantic_only_MRR@10": semantic_only["MRR@10"],
        "beats_both_single_modes_on_cosqa": c["grid"][key]["MRR@10"]
        > max(lexical_only["MRR@10"], semantic_only["MRR@10"]),
        "ident_success@1": i["grid"][key]["success@1"],
        "ident_success@1_at_least_0.95": i["grid"][key]["success@1"] >= 0.95,
        "best_cosqa_config": [best_cosqa[0], best_cosqa[1]["MRR@10"]],
        "best_ident_config": [best_ident[0], best_ident[1]["success@1"]],
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cosqa", type=Path, default=COSQA_DIR)
    p.add_argument("--work", type=Path, default=WORK_DIR / "tuning")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--cosqa-work", type=Path, default=WORK_DIR / "cosqa")
    p.add_argument("--ident-work", type=Path, default=WORK_DIR / "identifiers")
    p.add_argument("--per-form", type=int, default=None, help="identifier queries per form")
    p.add_argument("--limit-queries", type=int, default=None, help="first N CoSQA queries")
    p.add_argument("--embedding-variants", action="store_true", help="about 5 more minutes")
    p.add_argument("--no-report", action="store_true")
    p.add_argument(
        "--alpha-cv",
        action="store_true",
        help="only the default weight's cross-validation (alpha_cv.json; about a minute)",
    )
    args = p.parse_args(argv)
    if args.alpha_cv:
        with ExitStack() as stack:
            bench = Bench(stack, args.cosqa, args.cosqa_work, args.ident_work, args.per_form, None)
            started = machine()
            result = alpha_cross_validation(bench)
        write_json(
            args.out,
            "alpha_cv",
            {
                "benchmark": "alpha_cv",
                "command": "python -m tests.benchmarks.tuning --alpha-cv",
                "machine": started,
                **result,
            },
        )
        return 0
    previous = read_json(args.out, "tuning") or {}
    result: dict[str, Any] = {
        "benchmark": "tuning",
        "command": "python -m tests.benchmarks.tuning --embedding-variants",
        "machine": machine(),
    }
    with ExitStack() as stack:
        bench = Bench(
            stack, args.cosqa, args.cosqa_work, args.ident_work, args.per_form, args.limit_queries
        )
        result["boosts"] = boost_comparison(bench)
        result["auto_weight"] = auto_weight_comparison(bench)
        result["all_caps_rule"] = all_caps_rule(bench)
        result["query_rewrites"] = query_rewrites(bench)
        result["defined_names"] = defined_names(bench)
        result["reference_bm25_fusion"] = reference_bm25_fusion(bench)
        result["side_disagreement"] = side_disagreement(bench)
        result["agreement_feedback"] = agreement_feedback(bench)
        result["fixed_floor_fusion"] = fixed_floor_fusion(bench)
        if args.embedding_variants:
            result["embedding_input"] = embedding_variants(bench)
        elif "embedding_input" in previous:
            result["embedding_input"] = previous["embedding_input"]
    result["defaults"] = check_defaults(args.out)
    print(f"defaults: {result['defaults']}")
    write_json(args.out, "tuning", result)
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
