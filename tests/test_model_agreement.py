"""A sentence both default models answer alike leans towards meaning: the agreement is
read from the stored vectors (both stores), the weight and its label say so, and a lookup
or a single model is never bent that way. Real models, real hnswlib and pgvector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.agreement import (
    AGREEMENT_MIN_CANDIDATES,
    AGREEMENT_ODDS,
    AGREEMENT_TOP,
    models_agree,
)
from codanna_desktop.core.ranking.matching import spells_a_name
from codanna_desktop.core.ranking.search import SearchSession, bent
from codanna_desktop.core.semantic.embedder import Embedder, FusedEmbedder
from codanna_desktop.core.semantic.embedding_model import EmbeddingModel
from codanna_desktop.core.settings import Settings
from codanna_desktop.core.storage.vectors.hnsw import HnswStore
from codanna_desktop.core.storage.vectors.pgvector import PgVectorStore
from codanna_desktop.core.storage.vectors.store import VectorMeta

FILES = {
    "sorting.py": "def bubble_sort(items):\n    return sorted(items)\n",
    "upload.py": "def retry_failed_upload(upload):\n    return upload.send() or upload.send()\n",
    "files.py": "def read_lines(path):\n    return open(path).read().splitlines()\n",
    "mail.py": "def send_email(to, body):\n    smtp.sendmail('me', to, body)\n",
    "hashing.py": "def md5_of_file(path):\n    return hashlib.md5(open(path, 'rb').read())\n",
    "sha1.py": "def sha1_of_file(path):\n    # get the sha hash of a file on disk\n"
    "    return hashlib.sha1(open(path, 'rb').read())\n",
    "sha256.py": "def sha256_digest_of_file(path):\n"
    "    return hashlib.sha256(open(path, 'rb').read())\n",
    "dates.py": "def parse_iso_date(text):\n    return datetime.fromisoformat(text)\n",
    "json_io.py": "def load_json(path):\n    return json.load(open(path))\n",
}


# Enough other chunks that agreement is not chance (AGREEMENT_MIN_CANDIDATES).
TOPICS = (
    "resize an image",
    "open a socket",
    "parse command line flags",
    "draw a chart",
    "compress a folder",
    "start a thread pool",
    "read an environment variable",
    "render a template",
    "connect to a database",
    "validate a form",
    "play a sound",
    "sort records by age",
    "tokenise a sentence",
    "format a currency",
    "ping a host",
    "rotate a log file",
    "schedule a job",
    "encrypt a password",
    "parse an xml feed",
    "scrape a web page",
    "count word frequencies",
    "merge two dictionaries",
    "flatten a nested list",
    "convert celsius to fahrenheit",
    "generate a uuid",
    "resize a window",
    "zip two lists",
    "retry a network call",
    "paginate results",
    "cache a function result",
)
FILES.update(
    {
        f"other/task{i}.py": f'def task{i}():\n    """{t.capitalize()}."""\n'
        for i, t in enumerate(TOPICS)
    }
)


def two_models(first: list[list[float]], second: list[list[float]]) -> np.ndarray:
    """Candidate vectors whose first half is one model's and second half the other's."""
    return np.hstack([np.asarray(first, np.float32), np.asarray(second, np.float32)])


def test_agreement_is_the_same_first_chunks_from_each_model_in_any_order() -> None:
    query = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    rest = [[0.05, 0.0]] * AGREEMENT_MIN_CANDIDATES
    # Both models rank candidates 0, 1, 2 first (in other orders), the rest after.
    same = two_models(
        [[0.9, 0], [0.8, 0], [0.7, 0], [0.1, 0], *rest],
        [[0.7, 0], [0.9, 0], [0.8, 0], [0.0, 0], *rest],
    )
    assert models_agree(query, same, [2, 2])
    # The second model puts candidate 3 among its first three instead of candidate 2.
    other = two_models(
        [[0.9, 0], [0.8, 0], [0.7, 0], [0.1, 0], *rest],
        [[0.7, 0], [0.9, 0], [0.1, 0], [0.8, 0], *rest],
    )
    assert not models_agree(query, other, [2, 2])


def test_one_model_or_too_few_candidates_is_never_agreement() -> None:
    query = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    scores = [[0.9 - 0.01 * i, 0.0] for i in range(AGREEMENT_MIN_CANDIDATES)]
    assert models_agree(query, two_models(scores, scores), [2, 2])
    few = two_models(scores[:-1], scores[:-1])
    assert not models_agree(query, few, [2, 2])  # agreement among so few could be chance
    assert not models_agree(query[:2], np.eye(6, 2, dtype=np.float32), [2])


def session(*, agree: bool, query: str = "read all the lines of a text file") -> SearchSession:
    return SearchSession(
        query=query,
        lexical=[],
        semantic=[],
        rows={},
        fusion="minmax",
        semantic_available=True,
        models_agree=agree,
    )


def test_the_weight_and_its_label_say_when_the_models_agree() -> None:
    agreed = session(agree=True)
    assert agreed.weight(0.8) == pytest.approx(bent(0.8, AGREEMENT_ODDS))
    assert agreed.weight(0.8) == pytest.approx(144 / 145)
    assert agreed.weight_label(0.8) == "models agree: 1% words"
    assert agreed.weight(0.5) == pytest.approx(36 / 37)
    # The ends of the slider stay one side only, and the person can turn the bend off.
    assert agreed.weight(0.0) == 0.0 and agreed.weight(1.0) == 1.0
    assert agreed.weight(0.8, bend=False) == pytest.approx(0.8)
    assert agreed.weight_label(0.8, bend=False) == "20% words · 80% meaning"
    # The slider still moves the weight: lower on the slider is lower here too.
    assert agreed.weight(0.3) < agreed.weight(0.5) < agreed.weight(0.8)
    assert session(agree=False).weight_label(0.8) == "20% words · 80% meaning"


def indexed(folder: Path, model: EmbeddingModel, settings: Settings | None = None) -> Engine:
    """An engine that has indexed FILES, written into `folder`."""
    for name, text in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    engine = Engine(settings=settings, embedder=model)
    engine.add_root(folder)
    engine.index()
    return engine


@pytest.fixture
def engine(tmp_path: Path, embedder: FusedEmbedder) -> Iterator[Engine]:
    with indexed(tmp_path / "project", embedder) as engine:
        yield engine


def each_models_first(engine: Engine, embedder: FusedEmbedder, query: str) -> list[set[int]]:
    """Each model's own first chunks among the semantic candidates, computed apart from
    the searcher: each model's query vector against that model's stored half."""
    store = engine.semantic.store()
    assert store is not None
    found = [i for i, _ in store.search(embedder.embed_query(query), 100)]
    vectors = store.vectors_of(found)
    firsts, start = [], 0
    for part in embedder.parts:
        scores = vectors[:, start : start + part.dim] @ part.embed_query(query)
        firsts.append({found[k] for k in np.argsort(-scores)[:AGREEMENT_TOP]})
        start += part.dim
    return firsts


@pytest.mark.parametrize(
    ("query", "agree"),
    [
        # The three hashing functions are both models' first three.
        ("hash the contents of a file with a digest", True),
        ("checksum of a file using hashlib", True),
        # The models rank the rest of the folder apart after the first result or two.
        ("load a json document from disk", False),
        ("read every line of a text file into a list", False),
        ("turn an ISO formatted string into a date", False),
    ],
)
def test_the_search_reads_agreement_from_each_models_own_ranking(
    engine: Engine, embedder: FusedEmbedder, query: str, agree: bool
) -> None:
    firsts = each_models_first(engine, embedder, query)
    found = engine.search(query)
    assert (firsts[0] == firsts[1]) is agree
    assert found.models_agree is agree
    expected = bent(0.8, AGREEMENT_ODDS) if found.models_agree else 0.8
    assert found.weight(0.8) == pytest.approx(expected)


def test_a_name_written_out_as_words_is_a_lookup_even_when_the_models_agree(
    engine: Engine, embedder: FusedEmbedder
) -> None:
    query = "sha256 digest of file"  # four words: read as a sentence, not a lookup
    firsts = each_models_first(engine, embedder, query)
    assert firsts[0] == firsts[1]  # both models put the three hashing functions first
    found = engine.search(query)
    assert not found.models_agree
    assert found.weight(0.8) == pytest.approx(0.8)
    assert found.results(0.8, 1)[0].symbol == "sha256_digest_of_file"


def test_a_sentence_a_chunk_holds_as_typed_is_not_bent_towards_meaning(
    engine: Engine, embedder: FusedEmbedder
) -> None:
    query = "get the sha hash of a file on disk"  # sha1.py's comment
    firsts = each_models_first(engine, embedder, query)
    assert firsts[0] == firsts[1]
    found = engine.search(query)
    assert not found.models_agree
    assert found.results(0.8, 1)[0].path == "sha1.py"


def test_spelling_a_name_is_its_words_in_order() -> None:
    assert spells_a_name("zone info not found error", "ZoneInfoNotFoundError")
    assert spells_a_name("ordered dict items view", "OrderedDict._OrderedDictItemsView")
    assert spells_a_name("read file contents", "read_file_contents")
    assert not spells_a_name("file contents read", "read_file_contents")
    assert not spells_a_name("read the file contents", "read_file_contents")
    assert not spells_a_name("read file contents", None)
    assert not spells_a_name("", "read")


def test_a_lookup_is_never_bent_towards_meaning(engine: Engine) -> None:
    for query in ("md5_of_file", "send email", "load json file"):
        found = engine.search(query)
        assert not found.models_agree
        assert found.weight(0.8) < 0.2  # the words lead, as for every lookup


def test_one_model_never_reads_agreement(tmp_path: Path, fast_embedder: Embedder) -> None:
    fast = Settings(embedding_models="fast")
    with indexed(tmp_path / "project", fast_embedder, fast) as engine:
        # Both models agree on this one (above); one model alone has nothing to compare.
        assert not engine.search("hash the contents of a file with a digest").models_agree


def meta(ids: list[int]) -> list[VectorMeta]:
    return [VectorMeta(root_key="r", path=f"{i}.py", language="python") for i in ids]


@pytest.mark.parametrize("kind", ["hnsw", "pgvector"])
def test_a_store_gives_back_the_vectors_it_holds_in_the_order_asked(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(5, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    if kind == "hnsw":
        store: HnswStore | PgVectorStore = HnswStore(tmp_path / "v.hnsw", 8)
    else:
        store = PgVectorStore(request.getfixturevalue("pg_url"), "agree-model", 8, "cat-a")
    ids = [11, 12, 13, 14, 15]
    store.upsert(ids, vectors, meta(ids))
    got = store.vectors_of([14, 11, 15])
    assert got.shape == (3, 8)
    assert np.allclose(got, vectors[[3, 0, 4]], atol=1e-6)
    assert store.vectors_of([]).shape == (0, 8)
    store.delete([12])
    with pytest.raises(KeyError):
        store.vectors_of([12])
    store.close()
