"""Questions in words across several real projects indexed together, as a developer's
machine holds them: Flask (Python), Express (JavaScript) and ripgrep (Rust).

    .venv/bin/python -m tests.benchmarks.projects [--mirror DIR] [--full] [--ablation] [--misses]

Each project is taken at a pinned commit (PROJECTS) from a clone: `--mirror DIR` names a
folder of bare clones laid out as ``owner+name/repo`` (or ``owner/name.git``); without
one, the project is cloned from GitHub (a network is needed then). Only the files of the
pinned commit are written into bench-work/projects/src/<name>; nothing of them is
committed to this repository.

The questions (QUESTIONS, 46 of them) are written in a developer's words, not in the
code's: "set a cookie on the response", "skip files larger than the limit". Each has its
labelled answer: the file and the line of the definition that answers it (a result is
right when it is the innermost chunk of that file whose lines hold that line: a class or
an ``impl`` block around the definition is not it). All three folders are
indexed into one index and searched together at the default settings, as the window does.
Reported: success@1, success@3 and MRR@10, for all and per project, and how many of the
top three results were prose (Markdown, reStructuredText, text), other projects' code, or
tests, examples and benchmarks; the same for the questions with their project named ("…
in flask"). `--ablation` measures the ranking's rules (core/ranking/) added one at a time,
`--misses` prints the top five of every question whose answer is not in the top three,
`--full` reads and chunks every file again (after a change to chunking).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codanna_desktop.core.ranking import ordering, priors, search
from codanna_desktop.core.ranking.priors import is_supporting_code
from codanna_desktop.core.ranking.scope import Scope
from codanna_desktop.core.ranking.search import SearchResult
from codanna_desktop.core.settings import Settings
from codanna_desktop.core.storage.catalog import ChunkRow
from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    machine,
    open_engine,
    paired,
    patched,
    write_json,
)


@dataclass(frozen=True)
class Project:
    name: str
    repo: str  # owner/name on GitHub
    commit: str


PROJECTS = (
    Project("flask", "pallets/flask", "2ac89889f4cc330eabd50f295dcef02828522c69"),
    Project("express", "expressjs/express", "a3714473feb3d2908add734d340e7755fd85e0a3"),
    Project("ripgrep", "BurntSushi/ripgrep", "3fce3b5bb0236da2df6d99672afb8a719642eca7"),
)


@dataclass(frozen=True)
class Question:
    qid: str
    project: str
    text: str
    answers: tuple[tuple[str, int], ...]  # (path in the project, line of the definition)


def _q(qid: str, project: str, text: str, *answers: tuple[str, int]) -> Question:
    return Question(qid, project, text, answers)


FL, EX, RG = "flask", "express", "ripgrep"
QUESTIONS = (
    _q("fl-01", FL, "load configuration from environment variables with a prefix",
       ("src/flask/config.py", 126)),
    _q("fl-02", FL, "read the configuration from a python file", ("src/flask/config.py", 187)),
    _q("fl-03", FL, "build the url for an endpoint with its arguments",
       ("src/flask/helpers.py", 200), ("src/flask/app.py", 1102)),
    _q("fl-04", FL, "store a message to show the user on the next page",
       ("src/flask/helpers.py", 326)),
    _q("fl-05", FL, "send a file from a directory without letting the path escape it",
       ("src/flask/helpers.py", 543)),
    _q("fl-06", FL, "sign the session cookie with the secret key",
       ("src/flask/sessions.py", 303)),
    _q("fl-07", FL, "decide whether the session cookie has to be set on the response",
       ("src/flask/sessions.py", 233)),
    _q("fl-08", FL, "run a function after the current request is finished",
       ("src/flask/ctx.py", 118)),
    _q("fl-09", FL, "keep the request context inside a function that runs later",
       ("src/flask/ctx.py", 154)),
    _q("fl-10", FL, "find the application object inside a module for the command line",
       ("src/flask/cli.py", 41)),
    _q("fl-11", FL, "turn the return value of a view function into a response object",
       ("src/flask/app.py", 1224)),
    _q("fl-12", FL, "handle an exception nobody caught and return a 500 error",
       ("src/flask/app.py", 897)),
    _q("fl-13", FL, "start the local development server", ("src/flask/app.py", 632)),
    _q("fl-14", FL, "stream a response while keeping the request context",
       ("src/flask/helpers.py", 63), ("src/flask/helpers.py", 52)),
    _q("fl-15", FL, "when does the session cookie expire", ("src/flask/sessions.py", 223)),
    _q("fl-16", FL, "check whether code is running inside a request",
       ("src/flask/ctx.py", 209)),
    _q("ex-01", EX, "set the http status code of the response", ("lib/response.js", 65)),
    _q("ex-02", EX, "send a json response", ("lib/response.js", 234)),
    _q("ex-03", EX, "respond with json wrapped in a callback for jsonp",
       ("lib/response.js", 262)),
    _q("ex-04", EX, "set a cookie on the response", ("lib/response.js", 745)),
    _q("ex-05", EX, "delete a cookie from the client", ("lib/response.js", 712)),
    _q("ex-06", EX, "redirect the client to another url", ("lib/response.js", 815)),
    _q("ex-07", EX, "send a file to download as an attachment", ("lib/response.js", 435)),
    _q("ex-08", EX, "set the content type header from a file extension",
       ("lib/response.js", 506)),
    _q("ex-09", EX, "answer differently depending on the accept header",
       ("lib/response.js", 571)),
    _q("ex-10", EX, "check which content types the client accepts", ("lib/request.js", 127)),
    _q("ex-11", EX, "parse the range header of a request", ("lib/request.js", 214)),
    _q("ex-12", EX, "check whether the request body has a given content type",
       ("lib/request.js", 269)),
    _q("ex-13", EX, "mount middleware functions on the application",
       ("lib/application.js", 190)),
    _q("ex-14", EX, "start listening for http connections on a port",
       ("lib/application.js", 598)),
    _q("ex-15", EX, "render a view template with options and a callback",
       ("lib/application.js", 522), ("lib/response.js", 897)),
    _q("ex-16", EX, "generate etags for response bodies", ("lib/utils.js", 249)),
    _q("ex-17", EX, "find the template file for a view name on disk", ("lib/view.js", 104)),
    _q("rg-01", RG, "detect a symlink loop while walking directories",
       ("crates/ignore/src/walk.rs", 2038)),
    _q("rg-02", RG, "skip files larger than the maximum file size",
       ("crates/ignore/src/walk.rs", 2063)),
    _q("rg-03", RG, "walk the directory tree in parallel with several threads",
       ("crates/ignore/src/walk.rs", 701)),
    _q("rg-04", RG, "sort the entries of a directory by file name",
       ("crates/ignore/src/walk.rs", 992)),
    _q("rg-05", RG, "check whether a path is ignored by gitignore rules",
       ("crates/ignore/src/gitignore.rs", 202)),
    _q("rg-06", RG, "read the global gitignore file of the user",
       ("crates/ignore/src/gitignore.rs", 141)),
    _q("rg-07", RG, "compile many glob patterns into one matcher",
       ("crates/globset/src/lib.rs", 581)),
    _q("rg-08", RG, "turn a glob into a regular expression",
       ("crates/globset/src/glob.rs", 673)),
    _q("rg-09", RG, "decide whether a pattern is matched case insensitively with smart case",
       ("crates/regex/src/config.rs", 84)),
    _q("rg-10", RG, "find the decompression command for a compressed file",
       ("crates/cli/src/decompress.rs", 179)),
    _q("rg-11", RG, "stop reading a file when binary data is found",
       ("crates/searcher/src/searcher/mod.rs", 79)),
    _q("rg-12", RG, "print the search results as json lines",
       ("crates/printer/src/json.rs", 549), ("crates/printer/src/json.rs", 487)),
    _q("rg-13", RG, "search the contents of a file at a path",
       ("crates/searcher/src/searcher/mod.rs", 643)),
)  # fmt: skip

PROSE = {"markdown", "restructuredtext", "rst", "text"}
SHOWN_FOR_A_MISS = 5  # results printed for a question whose answer is not in the top three


def materialise(src_dir: Path, mirror: Path | None) -> dict[str, Path]:
    """Each project's files at its pinned commit, under src_dir/<name>."""
    roots: dict[str, Path] = {}
    for project in PROJECTS:
        dest = src_dir / project.name
        stamp = dest / ".codanna-bench-commit"
        if stamp.exists() and stamp.read_text().strip() == project.commit:
            roots[project.name] = dest
            continue
        git_dir = _clone(project, src_dir.parent / "clones", mirror)
        if dest.exists():
            subprocess.run(["rm", "-rf", str(dest)], check=True)
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", f"--git-dir={git_dir}", "archive", project.commit],
            check=True,
            capture_output=True,
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        stamp.write_text(project.commit + "\n")
        roots[project.name] = dest
    return roots


def _clone(project: Project, clones: Path, mirror: Path | None) -> Path:
    if mirror is not None:
        owner, name = project.repo.split("/")
        for candidate in (mirror / f"{owner}+{name}" / "repo", mirror / owner / f"{name}.git"):
            if candidate.is_dir():
                return candidate
    target = clones / f"{project.name}.git"
    if not target.is_dir():
        url = f"https://github.com/{project.repo}.git"
        subprocess.run(["git", "clone", "--bare", "--quiet", url, str(target)], check=True)
    return target


def answer_chunks(engine: Any, roots: dict[str, Path], question: Question) -> set[int]:
    """The chunks that answer `question`: in each labelled file, the chunks whose lines hold
    the labelled line, without those enclosing another such chunk. (A Rust ``impl X {}``
    shell spans every method of the block but holds none of their text; the class chunk
    around a method is not its definition either.)"""
    catalog = engine.catalog
    root = catalog.root_by_path(roots[question.project].resolve())
    assert root is not None, f"{question.project} is not indexed"
    files = catalog.files_of_root(root.id)
    out: set[int] = set()
    for path, line in question.answers:
        f = files.get(path)
        if f is None:
            continue
        rows = catalog.chunk_rows(catalog.chunk_ids_of_files([f.id])).values()
        holding = [c for c in rows if c.start_line <= line <= c.end_line]
        out |= {
            c.id
            for c in holding
            if not any(
                o is not c and c.start_line <= o.start_line and o.end_line <= c.end_line
                for o in holding
            )
        }
    return out


# Read once: the ablation switches the ranking's own off.
_DEFINITION_KINDS = ordering.DEFINITION_KINDS


def definition_windows(engine: Any, answers: set[int]) -> set[int]:
    """Every window of the definitions `answers` are windows of (a long function is cut
    into several; the ranking shows it once, by its first window among the candidates):
    the answers of the second, looser scoring."""
    catalog = engine.catalog
    out = set(answers)
    for row in catalog.chunk_rows(sorted(answers)).values():
        if row.symbol is None or row.kind not in _DEFINITION_KINDS:
            continue
        siblings = catalog.chunk_rows(catalog.chunk_ids_of_files([row.file_id])).values()
        out |= {c.id for c in siblings if (c.symbol, c.kind) == (row.symbol, row.kind)}
    return out


def shown(result: SearchResult) -> str:
    return f"{result.root.name}/{result.path}:{result.start_line}"


def asked(q: Question, named: bool) -> str:
    """The question as typed: as written, or naming its project as a person would."""
    return f"{q.text} in {q.project}" if named else q.text


def evaluate(
    engine: Any,
    roots: dict[str, Path],
    questions: Sequence[Question],
    alpha: float,
    k: int = 10,
    *,
    named: bool = False,
) -> dict[str, Any]:
    per_question = []
    for q in questions:
        answers = answer_chunks(engine, roots, q)
        windows = definition_windows(engine, answers)
        results = engine.search(asked(q, named)).results(alpha, k)
        rank = next((i + 1 for i, r in enumerate(results) if r.chunk_id in answers), None)
        rank_any = next((i + 1 for i, r in enumerate(results) if r.chunk_id in windows), None)
        top3 = results[:3]
        top3_rows = engine.catalog.chunk_rows([r.chunk_id for r in top3])
        per_question.append(
            {
                "qid": q.qid,
                "project": q.project,
                "question": asked(q, named),
                "rank": rank,
                "rank_any_window": rank_any,
                "top3": [shown(r) for r in top3],
                "top5": [shown(r) for r in results[:SHOWN_FOR_A_MISS]],
                "top3_prose": sum(1 for r in top3 if r.language.lower() in PROSE),
                "top3_other_project": sum(1 for r in top3 if r.root != roots[q.project]),
                # Tests, examples and benchmarks as the ranking tells them (priors.py).
                "top3_support": sum(1 for r in top3_rows.values() if is_supporting_code(r)),
            }
        )
    return {"summary": summarise(per_question), "questions": per_question}


def _no_scope(query: str, folders: Any) -> Scope:
    return Scope(query, query)


def _by_folder_and_file(row: ChunkRow) -> bool:
    return is_supporting_code(dataclasses.replace(row, symbol=None, text=""))


# The ranking's rules, switched on one at a time (each step keeps the ones before it): the
# ablation of BENCHMARKS.md section 12. Each entry: what the step adds, and the switches
# that are still off at that step (module, name, value when off).
_OFF: list[tuple[str, Any, str, Any]] = [
    ("prose ranks below code", priors, "PROSE_PRIOR", 1.0),
    ("tests, examples, benchmarks by folder and file", priors, "SUPPORT_PRIOR", 1.0),
    (
        "tests by name and attribute (Rust #[test])",
        priors,
        "is_supporting_code",
        _by_folder_and_file,
    ),
    ("a language named ranks first", priors, "OTHER_LANGUAGE_PRIOR", 1.0),
    ("a folder named is searched alone", search, "read_scope", _no_scope),
    ("a definition is one result", ordering, "DEFINITION_KINDS", frozenset()),
]


def ablation(engine: Any, roots: dict[str, Path], alpha: float, named: bool) -> list[Any]:
    """Summaries with none of the rules, then with each added in turn."""
    steps = []
    for i in range(len(_OFF) + 1):
        label = "none of the rules" if i == 0 else f"+ {_OFF[i - 1][0]}"
        with contextlib.ExitStack() as stack:
            for _, module, name, value in _OFF[i:]:
                stack.enter_context(patched(module, name, value))
            run = evaluate(engine, roots, QUESTIONS, alpha, named=named)
        ranks = {r["qid"]: [r["rank"], r["rank_any_window"]] for r in run["questions"]}
        steps.append({"step": label, "summary": run["summary"], "ranks": ranks})
    return steps


def print_misses(run: dict[str, Any]) -> None:
    """Each question whose answer is not in the top three, with what ranked above it."""
    by_qid = {q.qid: q for q in QUESTIONS}
    for row in run["questions"]:
        if row["rank"] is not None and row["rank"] <= 3:
            continue
        answers = ", ".join(f"{path}:{line}" for path, line in by_qid[row["qid"]].answers)
        print(f"  {row['qid']} (rank {row['rank']}) {row['question']!r} -> {answers}")
        for i, item in enumerate(row["top5"], 1):
            print(f"      {i}. {item}")


def reciprocal_ranks(run: dict[str, Any]) -> list[float]:
    """Each question's 1 / rank of its answer in the top 10 (0 when not there), in order."""
    return _reciprocal_ranks(run["questions"])


def _reciprocal_ranks(rows: Sequence[dict[str, Any]]) -> list[float]:
    return [1 / r["rank"] if r["rank"] else 0.0 for r in rows]


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def block(sub: Sequence[dict[str, Any]]) -> dict[str, float]:
        n = len(sub) or 1
        return {
            "questions": len(sub),
            "success@1": round(sum(1 for r in sub if r["rank"] == 1) / n, 3),
            "success@3": round(sum(1 for r in sub if r["rank"] and r["rank"] <= 3) / n, 3),
            "mrr@10": round(sum(_reciprocal_ranks(sub)) / n, 3),
            "success@3_any_window": round(
                sum(1 for r in sub if r["rank_any_window"] and r["rank_any_window"] <= 3) / n, 3
            ),
            "top3_prose_share": round(sum(r["top3_prose"] for r in sub) / (3 * n), 3),
            "top3_other_project_share": round(
                sum(r["top3_other_project"] for r in sub) / (3 * n), 3
            ),
            "top3_support_share": round(sum(r["top3_support"] for r in sub) / (3 * n), 3),
        }

    out: dict[str, Any] = {"all": block(rows)}
    for project in PROJECTS:
        out[project.name] = block([r for r in rows if r["project"] == project.name])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mirror", type=Path, default=None, help="folder of bare clones")
    p.add_argument("--work", type=Path, default=WORK_DIR / "projects")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--alphas", nargs="*", type=float, default=[], help="also these weights")
    p.add_argument(
        "--full",
        action="store_true",
        help="read and chunk every file again (after a change to chunking; an unchanged"
        " file is otherwise skipped by its hash); embeddings of unchanged chunks are reused",
    )
    p.add_argument("--misses", action="store_true", help="print the top 5 of each miss")
    p.add_argument("--ablation", action="store_true", help="also each ranking rule added in turn")
    args = p.parse_args(argv)

    roots = materialise(args.work / "src", args.mirror)
    home = args.work / "home"
    defaults = Settings()
    started = time.monotonic()
    with open_engine(home) as engine:
        for root in roots.values():
            engine.add_root(root)
        report = engine.index(full=args.full)
        print(
            f"index: {report.files_indexed} files, {report.chunks_added} chunks added, "
            f"{report.chunks_embedded} embedded, {time.monotonic() - started:.0f} s",
            flush=True,
        )
        by_path = {r.root.path: r for r in engine.status().roots}
        runs = {f"{defaults.alpha:.2f}": evaluate(engine, roots, QUESTIONS, defaults.alpha)}
        for alpha in args.alphas:
            runs[f"{alpha:.2f}"] = evaluate(engine, roots, QUESTIONS, alpha)
        named = evaluate(engine, roots, QUESTIONS, defaults.alpha, named=True)
        # Each weight against the default and against meaning only, question by question:
        # with 46 questions a difference needs its interval to mean anything.
        compared = {
            f"{key} vs {base}": paired(reciprocal_ranks(runs[key]), reciprocal_ranks(runs[base]))
            for base in (f"{defaults.alpha:.2f}", "1.00")
            if base in runs
            for key in runs
            if key != base
        }
        steps = {}
        if args.ablation:
            steps = {
                "as_written": ablation(engine, roots, defaults.alpha, named=False),
                "project_named": ablation(engine, roots, defaults.alpha, named=True),
            }
    result = {
        "benchmark": "projects",
        "command": "python -m tests.benchmarks.projects",
        "machine": machine(),
        "projects": [
            {
                "name": p.name,
                "repo": p.repo,
                "commit": p.commit,
                "files": by_path[roots[p.name].resolve()].files,
                "chunks": by_path[roots[p.name].resolve()].chunks,
            }
            for p in PROJECTS
        ],
        "default_alpha": defaults.alpha,
        "runs": runs,
        "project_named": named,
        "paired_mrr@10": compared,
        "ablation": steps,
    }
    write_json(args.out, "projects", result)
    for key, run in runs.items():
        print(f"alpha {key}:")
        for name, block in run["summary"].items():
            print(f"  {name:8} {block}")
        if args.misses:
            print_misses(run)
    for label, diff in compared.items():
        print(f"MRR@10 {label}: {diff}")
    print("the project named in each question (... in flask):")
    for name, block in named["summary"].items():
        print(f"  {name:8} {block}")
    for kind, rows in steps.items():
        print(f"ablation, questions {kind.replace('_', ' ')}:")
        for step in rows:
            a = step["summary"]["all"]
            print(
                f"  {step['step']:50} s@1 {a['success@1']:.3f} s@3 {a['success@3']:.3f}"
                f" MRR {a['mrr@10']:.3f} s@3 any window {a['success@3_any_window']:.3f}"
                f" prose {a['top3_prose_share']:.3f}"
                f" other {a['top3_other_project_share']:.3f} support {a['top3_support_share']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
