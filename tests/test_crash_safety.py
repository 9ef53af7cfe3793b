"""Crashes at the worst moments, for real: a writer process SIGKILLs itself at a precise
point, and the next engine to open the data folder finds a consistent index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from codanna_desktop.core.catalog import Catalog
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.lexical import LexicalIndex

REPO_ROOT = Path(__file__).resolve().parents[1]

FILES = {
    "net/client.py": "def retry_failed_upload(upload):\n    return upload.send()\n",
    "math/sorting.py": "def bubble_sort(items):\n    return sorted(items)\n",
    "web/app.js": "function cartTotal(cart) {\n  return cart.total;\n}\n",
}

# Runs in its own process (CODANNA_HOME comes from the test's environment): indexes the
# project, then does one more thing and kills itself right after tantivy committed.
WRITER = """
import os, signal, sys
from pathlib import Path
from codanna_desktop.core.catalog import Catalog
from codanna_desktop.core.engine import Engine

project, action = Path(sys.argv[1]), sys.argv[2]
eng = Engine(embedder=None)
eng.add_root(project)
eng.index(embed=False)
commit = eng.lexical.commit

def commit_then_die():
    commit()
    os.kill(os.getpid(), signal.SIGKILL)

eng.lexical.commit = commit_then_die
if action == "remove":
    eng.remove_root(project)
print("survived", flush=True)
"""


def write_project(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run_writer_until_killed(project: Path, action: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(project), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "survived" not in done.stdout


def test_kill_during_remove_after_the_lexical_delete_finishes_the_removal(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "project")
    run_writer_until_killed(project, "remove")
    with Engine(embedder=None) as eng:
        assert eng.roots() == []
        assert eng.status().files == 0 and eng.status().chunks == 0
        assert not eng.search("bubble_sort").results(0.0, 5)
        # Adding the folder again indexes it from scratch: nothing is "unchanged".
        eng.add_root(project)
        report = eng.index(embed=False)
        assert report.files_indexed == 3 and report.files_unchanged == 0
        assert eng.search("bubble_sort").results(0.0, 1)[0].path == "math/sorting.py"


def test_unclean_stop_re_adds_chunks_the_lexical_index_lost(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    with Engine(embedder=None) as eng:
        eng.add_root(project)
        eng.index(embed=False)
        data_dir = eng.paths.data_dir
        sorting = eng.catalog.files_of_root(eng.roots()[0].id)["math/sorting.py"]
    # A writer that stopped without closing, and whose tantivy lost one file's chunks
    # (a committed delete whose catalog delete never happened).
    with LexicalIndex(data_dir / "lexical") as lexical:
        lexical.delete_files([sorting.id])
        lexical.commit()
    catalog = Catalog(data_dir / "catalog.sqlite")
    catalog.set_meta("writer_open", "1")
    catalog.close()
    with Engine(embedder=None) as eng:
        top = eng.search("bubble_sort").results(0.0, 1)
        assert top and top[0].path == "math/sorting.py"
        # The next pass reads the file again (restoring what only the chunker knows).
        report = eng.index(embed=False)
        assert report.files_indexed == 1 and report.files_unchanged == 2
        assert eng.search("bubble_sort").results(0.0, 1)[0].path == "math/sorting.py"
