"""Run queries through the application's own search over a grid of fusion settings.

One `Engine.search` per query and candidate depth (what the app does when a query is
typed), then `SearchSession.results` for every fusion rule and weight (what the slider
does). Both benchmarks (CoSQA and identifier lookup) use this, so their figures describe
the same code path and can be compared to choose the defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.search import SearchResult

ALPHAS = tuple(round(i / 10, 1) for i in range(11))
RULES = ("minmax", "zscore", "rrf")
DEPTHS = (50, 100, 200, 400)

H = TypeVar("H", bound=Hashable)


@dataclass(frozen=True, order=True)
class Config:
    rule: str
    depth: int
    alpha: float

    @property
    def key(self) -> str:
        return f"{self.rule}/{self.depth}/{self.alpha:.1f}"

    @staticmethod
    def parse(key: str) -> Config:
        rule, depth, alpha = key.split("/")
        return Config(rule, int(depth), float(alpha))


@dataclass(frozen=True)
class Query:
    qid: str
    text: str


Runs = dict[Config, dict[str, list[H]]]


def run_grid(
    engine: Engine,
    queries: Sequence[Query],
    key: Callable[[SearchResult], H],
    *,
    rules: Sequence[str] = RULES,
    depths: Sequence[int] = DEPTHS,
    alphas: Sequence[float] = ALPHAS,
    k: int = 10,
) -> tuple[Runs[H], dict[str, float]]:
    """Ranked keys per configuration and query, and how long the searches took. The
    weight is the slider's: `SearchSession.results` may bend it for the query."""
    runs: Runs[H] = {}
    saved = engine.searcher.candidates_per_side
    search_s = fuse_s = 0.0
    try:
        for depth in depths:
            engine.searcher.candidates_per_side = depth
            for q in queries:
                t0 = time.perf_counter()
                session = engine.search(q.text)
                search_s += time.perf_counter() - t0
                for rule in rules:
                    session.fusion = rule
                    for alpha in alphas:
                        t1 = time.perf_counter()
                        results = session.results(alpha, k)
                        fuse_s += time.perf_counter() - t1
                        runs.setdefault(Config(rule, depth, alpha), {})[q.qid] = [
                            key(r) for r in results
                        ]
    finally:
        engine.searcher.candidates_per_side = saved
    return runs, {"search_s": round(search_s, 2), "fuse_s": round(fuse_s, 2)}


def unique(items: Sequence[H]) -> list[H]:
    """Items in order, each once (several chunks of one file count as the file once)."""
    return list(dict.fromkeys(items))
