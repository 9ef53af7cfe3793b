"""Every error a person can meet from the command line is a sentence with a way out, never
a traceback: a damaged catalog (and `repair`), a full disk, a read-only disk, bad batch
files, a closed pipe. Real files garbled on disk, a real full file system, real processes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import CLI, run

pytestmark = pytest.mark.timeout(300)


def data_dir() -> Path:
    return Path(os.environ["CODANNA_HOME"]) / "data"


def catalog_file() -> Path:
    return data_dir() / "catalog.sqlite"


def write_project(root: Path, functions: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, body in functions.items():
        (root / f"{name}.py").write_text(f"def {name}(value):\n    {body}\n")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "proj",
        {
            "save_user_record": "return value.insert('users')",
            "parse_config_file": "return dict(line.split('=') for line in value)",
        },
    )


def assert_sentence(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


# -- a damaged catalog ---------------------------------------------------------------


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 3)


def garble_a_page(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(3 * 4096))


def garble_the_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(os.urandom(100))


def garble_everything(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def break_a_folders_utf8(path: Path) -> None:
    """A byte of the folder's path that is no longer UTF-8, inside a well-formed row (the
    fault campaign's "header page" found it: "Something unexpected … UnicodeDecodeError")."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE roots SET path = CAST(CAST(path AS BLOB) || X'A0' AS TEXT)")


@pytest.mark.parametrize(
    "damage", [truncate, garble_a_page, garble_the_header, break_a_folders_utf8]
)
def test_damaged_catalog_is_a_sentence_naming_repair(project: Path, damage: object) -> None:
    run("add", "--no-embed", str(project), check=True)
    assert callable(damage)
    damage(catalog_file())
    for args in (["search", "save_user_record"], ["status"], ["index", "--no-embed"]):
        assert_sentence(run(*args), 4, "is damaged", "codanna-desktop repair")
    if damage is break_a_folders_utf8:  # the way out it names works
        assert_sentence(run("repair", "--no-embed"), 0)
        hit = run("search", "save_user_record", "--alpha", "0", "--json", check=True)
        assert json.loads(hit.stdout.splitlines()[0])["path"].startswith(str(project))


def test_repair_rebuilds_the_index_with_the_same_folders(tmp_path: Path, project: Path) -> None:
    other = write_project(tmp_path / "other", {"render_button": "return value"})
    run("add", "--no-embed", str(project), str(other), check=True)
    # Nothing of the catalog is readable, not even its list of folders: the copy beside
    # it (roots.json) has to say what to index again.
    garble_everything(catalog_file())
    assert_sentence(run("search", "render_button"), 4, "codanna-desktop repair")

    repaired = run("repair", "--no-embed")
    assert_sentence(repaired, 0)
    assert f"indexing {project} again" in repaired.stdout
    assert f"indexing {other} again" in repaired.stdout
    aside = [p for p in data_dir().iterdir() if p.name.startswith("damaged-")]
    assert len(aside) == 1 and (aside[0] / "catalog.sqlite").exists()  # set aside, not deleted

    hit = run("search", "render_button", "--alpha", "0", "--json", check=True)
    assert json.loads(hit.stdout.splitlines()[0])["path"] == str(other / "render_button.py")
    status = json.loads(run("status", "--json", check=True).stdout)
    assert sorted(r["path"] for r in status["roots"]) == sorted([str(project), str(other)])


@pytest.mark.parametrize("loss", ["emptied", "deleted"])
def test_an_emptied_or_deleted_catalog_is_lost_not_new(
    tmp_path: Path, project: Path, loss: str
) -> None:
    """SQLite opens an empty file (or none) as a new database: without this check the index
    said "No folders yet" and forgot the folders (the fault campaign's page 0 truncation)."""
    other = write_project(tmp_path / "other", {"render_button": "return value"})
    run("add", "--no-embed", str(project), str(other), check=True)
    if loss == "emptied":
        os.truncate(catalog_file(), 0)
    else:
        catalog_file().unlink()
    state = "empty" if loss == "emptied" else "missing"
    for args in (["search", "render_button"], ["status"], ["index", "--no-embed"]):
        said = run(*args)
        assert_sentence(said, 4, f"the file is {state}, though 2 folders were added")
        assert "codanna-desktop repair" in said.stderr
        assert "No folders" not in said.stdout + said.stderr

    assert_sentence(run("repair", "--no-embed"), 0)
    hit = run("search", "render_button", "--alpha", "0", "--json", check=True)
    assert json.loads(hit.stdout.splitlines()[0])["path"] == str(other / "render_button.py")
    status = json.loads(run("status", "--json", check=True).stdout)
    assert sorted(r["path"] for r in status["roots"]) == sorted([str(project), str(other)])


def test_a_new_index_with_no_folders_starts_without_a_catalog(tmp_path: Path) -> None:
    assert_sentence(run("status"), 0)  # nothing added yet: no catalog is no loss
    run("add", "--no-embed", str(write_project(tmp_path / "p", {"f": "return 1"})), check=True)
    run("remove", str(tmp_path / "p"), check=True)
    catalog_file().unlink()  # every folder removed: the saved list is empty
    assert_sentence(run("status"), 0)


def test_repair_reads_the_folders_from_a_catalog_without_their_copy(project: Path) -> None:
    run("add", "--no-embed", str(project), check=True)
    (data_dir() / "roots.json").unlink()  # as a catalog made before the copy existed
    garble_a_page(catalog_file())
    repaired = run("repair", "--no-embed")
    assert_sentence(repaired, 0)
    assert f"indexing {project} again" in repaired.stdout
    assert run("search", "save_user_record", "--alpha", "0").returncode == 0


@pytest.mark.slow
def test_repair_keeps_the_embedding_cache(project: Path) -> None:
    run("add", str(project), check=True)
    repaired = run("repair")
    assert_sentence(repaired, 0)
    # Two chunk texts, a vector of each default model for each.
    assert "kept 4 cached embeddings" in repaired.stdout
    assert "0 embedded; 2 from the embedding cache" in repaired.stdout


def test_remove_of_a_folder_is_kept_in_the_copy_of_the_folder_list(
    tmp_path: Path, project: Path
) -> None:
    other = write_project(tmp_path / "other", {"render_button": "return value"})
    run("add", "--no-index", str(project), str(other), check=True)
    run("remove", str(other), check=True)
    saved = json.loads((data_dir() / "roots.json").read_text())
    assert saved == {"roots": [str(project)]}


# -- a full disk and a read-only disk ----------------------------------------------------


def mount_tmpfs(where: Path, *options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    opts = ",".join(("size=8m", *options))
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """CODANNA_HOME on a real 8 MiB file system."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    disk = tmp_path / "disk"
    mount_tmpfs(disk)
    monkeypatch.setenv("CODANNA_HOME", str(disk / "home"))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    # Unbuffered: a buffered file keeps the bytes of the write that did not fit and fails
    # again when closed (whether it does depends on the free space left, to the byte).
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    assert shutil.disk_usage(disk).free == 0
    return filler


def test_full_disk_is_a_sentence_and_remove_still_runs(small_disk: Path, project: Path) -> None:
    run("add", "--no-embed", str(project), check=True)
    filler = fill(small_disk)
    full = f"The disk holding {data_dir()} is full"
    for args in (["search", "save_user_record"], ["status"], ["index", "--no-embed"]):
        assert_sentence(run(*args), 4, full)
    # The writer lock cannot record who holds it and need not: `remove` gets as far as
    # the catalog, which at zero bytes free cannot map its shared memory, and says so.
    assert_sentence(run("remove", str(project)), 4, full)
    # With a little room it runs, and frees the folder's share of the index.
    os.truncate(filler, filler.stat().st_size - 512 * 1024)
    assert_sentence(run("remove", str(project)), 0)


def test_disk_filling_while_indexing_is_a_sentence(small_disk: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(12):  # 0.3 MB of code: its index (1 MB) outgrows the 512 KiB left free
        (big / f"module_{i}.py").write_text(
            "".join(
                f"def function_{i}_{j}(value):\n    return value * {j} + {i}  # filler text\n\n"
                for j in range(300)
            )
        )
    other_files = small_disk / "other-files"  # what else is on the disk
    other_files.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 512 * 1024))
    assert_sentence(run("add", "--no-embed", str(big)), 4, "is full", "remove PATH")
    # Both ways out the sentence gives work: `remove` runs on the full disk, and once
    # space is freed the index takes the folder in full (nothing was left half-written).
    assert_sentence(run("remove", str(big)), 0)
    other_files.unlink()
    assert_sentence(run("add", "--no-embed", str(big)), 0)
    hit = run("search", "function_11_299", "--alpha", "0", "--json", check=True)
    assert json.loads(hit.stdout.splitlines()[0])["symbol"] == "function_11_299"
    assert json.loads(run("status", "--json", check=True).stdout)["chunks"] == 12 * 300


@pytest.mark.slow
def test_disk_filling_while_embedding_is_a_sentence(small_disk: Path, tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {})
    (project / "many.py").write_text(
        "".join(f"def handler_{i}(event):\n    return event + {i}\n\n" for i in range(300))
    )
    run("add", "--no-embed", str(project), check=True)
    # Room for the lexical pass, none for 300 vectors in the cache and the vector store.
    other_files = small_disk / "other-files"
    other_files.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 150 * 1024))
    assert_sentence(run("index"), 4, f"The disk holding {data_dir()} is full")
    other_files.unlink()
    assert_sentence(run("index"), 0)
    status = json.loads(run("status", "--json", check=True).stdout)
    assert status["embedded"] == status["chunks"] == 300


def test_read_only_data_folder_is_a_sentence(tmp_path: Path, project: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a file system needs root")
    disk = tmp_path / "ro"
    mount_tmpfs(disk)
    (disk / "home").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    env = {**os.environ, "CODANNA_HOME": str(disk / "home")}
    try:
        proc = subprocess.run(
            [*CLI, "add", str(project)], capture_output=True, text=True, env=env, timeout=120
        )
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert_sentence(proc, 4, "read-only file system", "CODANNA_HOME")


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Folders made immutable (chattr +i: even root may not write in them), undone after."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root")
    folders: list[Path] = []
    yield folders
    for folder in folders:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def make_immutable(folders: list[Path], folder: Path) -> None:
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    folders.append(folder)


def test_data_folder_that_may_not_be_written_is_a_sentence(
    project: Path, immutable: list[Path]
) -> None:
    home = Path(os.environ["CODANNA_HOME"])
    home.mkdir()
    make_immutable(immutable, home)
    assert_sentence(run("add", str(project)), 4, f"may not write {home / 'data'}")
    subprocess.run(["chattr", "-i", str(home)], check=True)
    run("add", "--no-embed", str(project), check=True)
    make_immutable(immutable, data_dir())
    for args in (["search", "save_user_record"], ["status"], ["remove", str(project)]):
        assert_sentence(run(*args), 4, "cannot be opened for writing", f"may write {data_dir()}")


# -- batch files and pipes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        (b"\xff\xfe not utf-8\n", ":2: not UTF-8 text"),
        (b'{"qid": "b", "query": \n', ':2: not a {"qid", "query"} JSON line'),
        (b'{"qid": "b", "query": ["a list"]}\n', ":2: the query must be text"),
    ],
)
def test_bad_batch_line_is_named_and_nothing_is_printed(
    tmp_path: Path, project: Path, bad_line: bytes, says: str
) -> None:
    run("add", "--no-embed", str(project), check=True)
    batch = tmp_path / "q.jsonl"
    batch.write_bytes(
        json.dumps({"qid": "a", "query": "save_user_record"}).encode() + b"\n" + bad_line
    )
    proc = run("search", "--batch", str(batch), "--alpha", "0")
    assert_sentence(proc, 2, f"{batch}{says}")
    assert proc.stdout == ""


def test_search_into_a_closed_pipe_ends_quietly(project: Path) -> None:
    run("add", "--no-embed", str(project), check=True)
    # The reader is gone before the first result is written (as `| head -1` once it has
    # its line): the output goes nowhere, and nothing is said about it.
    proc = subprocess.Popen(
        [*CLI, "search", "value", "--alpha", "0", "-k", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_path_filter_with_a_range_running_backwards_is_a_sentence(project: Path) -> None:
    """Found by the fault campaign's fuzzing: said "Something unexpected went wrong"."""
    run("add", "--no-embed", str(project), check=True)
    proc = run("search", "--path", "src/[z-a]*.py", "value", "--alpha", "0")
    assert_sentence(proc, 2, "“src/[z-a]*.py”", "runs backwards", "“a-z”")
    assert "unexpected" not in proc.stderr and proc.stdout == ""


def test_exit_codes_are_attributes_of_the_error_classes() -> None:
    from codanna_desktop.core.errors import (
        CatalogDamagedError,
        CodannaError,
        DiskFullError,
        IndexLockedError,
        user_error,
    )

    assert CodannaError.exit_code == 4
    assert IndexLockedError.exit_code == 3
    assert CatalogDamagedError(Path("c.sqlite"), "x").exit_code == 4
    assert isinstance(user_error(OSError(28, "No space left on device", "/")), DiskFullError)
    unexpected = user_error(RuntimeError("boom"))
    assert unexpected.exit_code == 4 and "boom" in str(unexpected)


def test_a_zeroed_page_no_query_reads_is_found_before_an_index_pass(tmp_path: Path) -> None:
    # Enough chunks that the catalog has pages a search never reads; zero the last one.
    big = write_project(
        tmp_path / "big",
        {f"function_{i}": f"return value + {i}  # {'words ' * 40}" for i in range(300)},
    )
    run("add", "--no-embed", str(big), check=True)
    path = catalog_file()
    with sqlite3.connect(path) as db:  # a leaf page of the chunks' texts
        page = db.execute(
            "SELECT pageno FROM dbstat WHERE name = 'chunks' AND pagetype = 'leaf'"
            " ORDER BY pageno DESC LIMIT 1"
        ).fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\0" * page_size)
    # Before, `index` went on with whatever the damaged page now says, silently.
    assert_sentence(run("index", "--no-embed"), 4, "is damaged", "codanna-desktop repair")
