"""The command line as a script uses it: real processes, exit codes, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "codanna_desktop"]


def run(*args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src/store.py").write_text(
        textwrap.dedent(
            '''
            MAX_RETRIES = 5


            def save_user_record(db, user):
                """Write the user to the database."""
                db.insert("users", user)


            def parse_config_file(path):
                return dict(line.split("=", 1) for line in open(path))
            '''
        )
    )
    (root / "src/ui.js").write_text("function renderButton(label) { return label; }\n")
    return root


def test_add_search_status_remove(project: Path) -> None:
    added = run("add", str(project), check=True)
    assert f"added {project}" in added.stdout
    assert "files indexed" in added.stdout

    hit = run("search", "save_user_record", "--json", "-k", "3", check=True)
    first = json.loads(hit.stdout.splitlines()[0])
    assert first["symbol"] == "save_user_record"
    assert first["path"] == str(project / "src/store.py")
    assert first["start_line"] >= 1 and first["lexical_score"] > 0

    semantic = run("search", "store a person in the database", "--alpha", "1", "--json", check=True)
    assert json.loads(semantic.stdout.splitlines()[0])["symbol"] == "save_user_record"

    filtered = run("search", "render", "--lang", "javascript", "--json", check=True)
    assert all(
        json.loads(line)["language"] == "javascript" for line in filtered.stdout.splitlines()
    )

    status = json.loads(run("status", "--json", check=True).stdout)
    assert status["roots"][0]["path"] == str(project)
    assert status["chunks"] == status["embedded"] > 0

    run("remove", str(project), check=True)
    assert run("search", "save_user_record").returncode == 1


def test_exit_codes_for_bad_usage_and_errors(tmp_path: Path, project: Path) -> None:
    assert run("add", str(tmp_path / "missing")).returncode == 4
    assert "is not a folder" in run("add", str(tmp_path / "missing")).stderr
    run("add", "--no-embed", str(project), check=True)
    assert run("search", "x", "--alpha", "2").returncode == 2
    assert run("search").returncode == 2
    assert run("search", "zzzqqqxxx_nothing", "--alpha", "0").returncode == 1
    # A malformed query is searched literally, never an error.
    for query in ["save_user_record(", '"unclosed', "AND OR", "field:value", "*", "]["]:
        assert run("search", query, "--alpha", "0").returncode in (0, 1)


def test_batch_search_writes_ranked_paths(tmp_path: Path, project: Path) -> None:
    run("add", str(project), check=True)
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"qid": "a", "query": "parse_config_file"})
        + "\n"
        + json.dumps({"qid": "b", "query": "renderButton"})
        + "\n"
    )
    out = run("search", "--batch", str(queries), "--alpha", "0.3", "-k", "2", check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["qid"] for line in lines] == ["a", "b"]
    assert lines[0]["ranked"][0] == str(project / "src/store.py")
    assert lines[1]["ranked"][0] == str(project / "src/ui.js")


def test_second_writer_says_who_holds_the_index(project: Path) -> None:
    run("add", "--no-embed", str(project), check=True)
    holder = subprocess.Popen(
        [*CLI, "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        lock_info = Path(os.environ["CODANNA_HOME"]) / "data" / "writer.holder.json"
        while not lock_info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        busy = run("index")
        assert busy.returncode == 3
        assert f"process {holder.pid}" in busy.stderr
        # Searching beside the writer still works.
        assert run("search", "save_user_record", "--alpha", "0").returncode == 0
    finally:
        holder.terminate()
        holder.wait(timeout=60)
    assert run("index", "--no-embed").returncode == 0


def test_watch_keeps_index_live(project: Path) -> None:
    run("add", "--no-embed", str(project), check=True)
    watcher = subprocess.Popen(
        [*CLI, "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lock_info = Path(os.environ["CODANNA_HOME"]) / "data" / "writer.holder.json"
        deadline = time.monotonic() + 120
        while not lock_info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        (project / "src/new_module.py").write_text("def freshly_written_function():\n    pass\n")
        found = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not found:
            found = run("search", "freshly_written_function", "--alpha", "0").returncode == 0
            time.sleep(0.3)
        assert found
    finally:
        watcher.terminate()
        watcher.wait(timeout=60)


def test_watch_indexes_edits_in_a_nested_folder_the_outer_gitignore_leaves_out(
    tmp_path: Path,
) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    (inner / "deep").mkdir(parents=True)
    (outer / ".gitignore").write_text("inner/\n")
    (outer / "top.py").write_text("def outer_function():\n    pass\n")
    (inner / "deep" / "one.py").write_text("def nested_before_edit():\n    pass\n")
    run("add", "--no-embed", str(outer), str(inner), check=True)
    log = tmp_path / "watch.out"
    with open(log, "w") as out:
        watcher = subprocess.Popen([*CLI, "watch"], stdout=out, stderr=subprocess.PIPE, text=True)
    try:
        # The first pass over the folders is reported; after it only the watcher can
        # bring the edit in.
        deadline = time.monotonic() + 120
        while "unchanged" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "unchanged" in log.read_text()
        (inner / "deep" / "one.py").write_text("def nested_after_edit():\n    pass\n")
        (inner / "deep" / "two.py").write_text("def nested_new_file():\n    pass\n")
        for name, path in (("nested_after_edit", "one.py"), ("nested_new_file", "two.py")):
            found = False
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not found:
                out = run("search", name, "--alpha", "0", "--json", "-k", "1").stdout
                found = any(json.loads(line)["path"].endswith(path) for line in out.splitlines())
                time.sleep(0.3)
            assert found, name
    finally:
        watcher.terminate()
        _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert "Traceback" not in err


def test_search_takes_language_aliases_roots_and_path_globs(tmp_path: Path, project: Path) -> None:
    other = tmp_path / "other"
    (other / "lib").mkdir(parents=True)
    (other / "lib/render.js").write_text("function renderButtonOther(label) { return 1; }\n")
    run("add", "--no-embed", str(project), str(other), check=True)

    def paths(*args: str) -> set[str]:
        out = run("search", "renderButton", "--alpha", "0", "--json", *args)
        return {json.loads(line)["path"] for line in out.stdout.splitlines()}

    both = {str(project / "src/ui.js"), str(other / "lib/render.js")}
    assert paths("--lang", "js") == both
    assert paths("--root", str(other)) == {str(other / "lib/render.js")}
    assert paths("--path", "proj/src") == {str(project / "src/ui.js")}
    assert paths("--path", "*.js !lib/") == {str(project / "src/ui.js")}

    unknown = run("search", "renderButton", "--lang", "klingon")
    assert unknown.returncode == 2
    assert "Unknown language 'klingon'" in unknown.stderr and "javascript" in unknown.stderr
    not_added = run("search", "renderButton", "--root", str(tmp_path))
    assert not_added.returncode == 2
    assert "is not an added folder" in not_added.stderr


def test_a_setting_of_the_wrong_type_is_a_sentence_and_exit_4(codanna_home: Path) -> None:
    (codanna_home / "config").mkdir(parents=True)
    (codanna_home / "config/settings.toml").write_text('ignore_patterns = "*.py"\n')
    proc = run("status")
    assert proc.returncode == 4
    assert "Traceback" not in proc.stderr
    assert "The setting ignore_patterns must be a list of texts" in proc.stderr


def test_status_skipped_names_a_link_out_of_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "own.py").write_text("x = 1\n")
    (tmp_path / "secret.txt").write_text("password = hunter2\n")
    (root / "secret.txt").symlink_to(tmp_path / "secret.txt")
    run("add", "--no-embed", str(root), check=True)
    proc = run("status", "--skipped", check=True)
    line = next(line for line in proc.stdout.splitlines() if "secret.txt" in line)
    assert "link outside the folder" in line
    assert str(tmp_path / "secret.txt") in line


def test_a_lookup_nothing_contains_exits_1_and_says_so_first(project: Path) -> None:
    run("add", "--no-embed", str(project), check=True)
    # "save_user_nothing" shares words with save_user_record: similar results, no match.
    out = run("search", "save_user_nothing", "--alpha", "0")
    assert out.returncode == 1
    first_note = next(line for line in out.stderr.splitlines() if line.startswith("note:"))
    assert "No code contains “save_user_nothing”" in first_note
    assert "similar" in out.stdout
    found = run("search", "save_user_record", "--alpha", "0")
    assert found.returncode == 0
    assert "defines it" in found.stdout


def test_batch_reads_standard_input_and_status_json_lists_skipped_files(
    project: Path,
) -> None:
    (project / "blob.bin").write_bytes(b"\x00\x01\x02binary" * 50)
    run("add", "--no-embed", str(project), check=True)
    line = json.dumps({"qid": "a", "query": "parse_config_file"}) + "\n"
    proc = subprocess.run(
        [*CLI, "search", "--batch", "-", "--alpha", "0"],
        input=line,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ranked"][0] == str(project / "src/store.py")
    status = json.loads(run("status", "--json", "--skipped", check=True).stdout)
    assert {"path": str(project / "blob.bin"), "reason": "binary"} in [
        {k: f[k] for k in ("path", "reason")} for f in status["skipped_files"]
    ]
    assert "skipped_files" not in json.loads(run("status", "--json", check=True).stdout)


def test_without_a_display_the_app_says_the_command_line_works_headless() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.run([*CLI], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 4
    assert "There is no display here" in proc.stderr
    assert "codanna-desktop search QUERY" in proc.stderr
    assert "xcb" not in proc.stderr
