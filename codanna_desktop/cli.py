"""`codanna-desktop`: with no arguments the desktop app; sub-commands run the engine headless.

Exit codes a script can rely on:
  0 success; 1 a search found nothing; 2 bad usage; 3 the index is held by another writer;
  4 any other error the message explains (missing folder, model, database, settings, a
  damaged catalog, a full disk). An error's exit code is its class's `exit_code`
  (codanna_desktop.core.errors); this module only prints the sentence.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codanna_desktop import __version__
from codanna_desktop.core.errors import CodannaError, UnknownLanguageError, user_error
from codanna_desktop.core.settings import AppPaths

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

EXIT_OK, EXIT_NO_RESULTS, EXIT_USAGE = 0, 1, 2
EXIT_ERROR = CodannaError.exit_code
_COMMANDS = {
    "gui",
    "add",
    "remove",
    "index",
    "search",
    "grep",
    "status",
    "watch",
    "model",
    "repair",
}

log = logging.getLogger("codanna_desktop.cli")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="codanna-desktop",
        description="Search code on this machine by name or by description. "
        "Without a command, opens the desktop app.",
    )
    p.add_argument("--version", action="version", version=f"codanna-desktop {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("gui", help="open the desktop app (the default), adding any folders given")
    g.add_argument("paths", nargs="*", type=Path, metavar="PATH")

    a = sub.add_parser("add", help="add folders and index them")
    a.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    a.add_argument("--no-index", action="store_true", help="only record the folders")
    a.add_argument("--no-embed", action="store_true", help="index lexically, embed later")
    a.add_argument("--wait", action="store_true", help="wait while another process writes")

    r = sub.add_parser("remove", help="remove a folder and everything indexed from it")
    r.add_argument("path", type=Path, metavar="PATH")
    r.add_argument("--wait", action="store_true", help="wait while another process writes")

    i = sub.add_parser("index", help="bring the index up to date with the disk")
    i.add_argument("--full", action="store_true", help="re-read every file (cached vectors reused)")
    i.add_argument("--no-embed", action="store_true", help="lexical pass only")
    i.add_argument("--wait", action="store_true", help="wait while another process writes")

    s = sub.add_parser("search", help="search the index")
    s.add_argument("query", nargs="?", default=None, metavar="QUERY")
    s.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="0 = lexical only, 1 = semantic only (default from settings)",
    )
    s.add_argument(
        "--as-given",
        action="store_true",
        help="use --alpha as it is for lookups too (a name or a few keywords is otherwise "
        "weighted towards exact words)",
    )
    s.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    s.add_argument(
        "--lang",
        action="append",
        default=[],
        metavar="L",
        help="only these languages (py, js, ts, rs, go, cpp... or full names; repeat or use ,)",
    )
    s.add_argument(
        "--path",
        default=None,
        metavar="GLOBS",
        help="only paths matching these globs ('src/**/*.py !tests/', 'ctx.py', 'flask/src')",
    )
    s.add_argument(
        "--root",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="only this added folder (repeatable)",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per result")
    s.add_argument(
        "--batch",
        type=Path,
        metavar="QUERIES.jsonl",
        help='run {"qid","query"} lines (- reads standard input); '
        'write {"qid","ranked":[paths]} lines',
    )

    _grep_parser(sub)

    st = sub.add_parser("status", help="folders, counts, model and store")
    st.add_argument("--json", action="store_true")
    st.add_argument("--skipped", action="store_true", help="list skipped files with reasons")

    sub.add_parser("watch", help="index, then keep the index live as files change (Ctrl+C stops)")

    rp = sub.add_parser(
        "repair",
        help="set a damaged index aside and index the same folders again from the disk",
    )
    rp.add_argument("--no-embed", action="store_true", help="index lexically, embed later")
    rp.add_argument("--wait", action="store_true", help="wait while another process writes")

    m = sub.add_parser("model", help="the embedding model")
    m.add_argument(
        "action",
        choices=["install", "status", "list"],
        help="install the default model, check it, or list fastembed's models",
    )
    return p


def main(
    argv: Sequence[str] | None = None, run_gui: Callable[[list[str]], int] | None = None
) -> int:
    """Run a command. ``run_gui`` opens the window (the entry point, codanna_desktop.launch,
    passes it: the command line does not import the desktop app)."""
    parser = _parser()
    args_in = list(sys.argv[1:] if argv is None else argv)
    # `codanna-desktop ~/src/project` opens the app with that folder (as the desktop
    # entry and file managers call it): a first word that is a path, not a command.
    first = next((i for i, a in enumerate(args_in) if not a.startswith("-")), None)
    if first is not None and args_in[first] not in _COMMANDS and Path(args_in[first]).exists():
        args_in.insert(first, "gui")
    args = parser.parse_args(args_in)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command in (None, "gui"):
        if run_gui is None:
            print("codanna-desktop: the window is opened by the program itself", file=sys.stderr)
            return EXIT_USAGE
        return run_gui([str(p) for p in getattr(args, "paths", [])])
    try:
        handler = globals()[f"_cmd_{args.command}"]
        code = int(handler(args))
        sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
        return code
    except BrokenPipeError:
        # The reader stopped reading (`search … | head -1`): it has what it wanted.
        _stdout_to_devnull()
        return EXIT_OK
    except KeyboardInterrupt:
        print("codanna-desktop: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        error = user_error(exc)
        if error is not exc:
            log.info("the error in full", exc_info=exc)
        print(f"codanna-desktop: {error}", file=sys.stderr)
        return error.exit_code


def _stdout_to_devnull() -> None:
    # Python flushes stdout once more at exit; on the closed pipe that would print a
    # second BrokenPipeError, so what is left goes nowhere.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextmanager
def _engine(*, writer: bool, wait: bool = False) -> Iterator[Any]:
    from codanna_desktop.core.engine import Engine

    if wait:
        print("codanna-desktop: waiting for the index to be free…", file=sys.stderr)
    engine = Engine(writer=writer, wait_for_lock=-1 if wait else 0.0)
    try:
        yield engine
    finally:
        engine.close()


class _ProgressBars:
    """tqdm bars on stderr, one per phase; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._bar: Any = None
        self._key: tuple[str, str] | None = None

    def __call__(self, p: Any) -> None:
        key = (p.phase, str(p.root))
        if key != self._key:
            self.close()
            self._key = key
            label = {"scanning": "scan", "indexing": "index", "embedding": "embed"}.get(
                p.phase, p.phase
            )
            name = Path(str(p.root)).name if p.root else ""
            self._bar = self._tqdm(
                total=p.total or None,
                desc=f"{label} {name}".strip(),
                unit="file" if p.phase != "embedding" else "chunk",
                file=sys.stderr,
                disable=None,
                leave=False,
            )
        if self._bar is not None:
            if p.total and self._bar.total != p.total:
                self._bar.total = p.total
            self._bar.n = p.done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _print_report(report: Any, *, warnings: bool = True) -> None:
    parts = [
        f"{report.files_indexed} files indexed",
        f"{report.files_unchanged} unchanged",
        f"{report.files_deleted} removed",
        f"{report.chunks_added} chunks added",
        f"{report.chunks_embedded} embedded",
        f"{report.chunks_from_cache} from the embedding cache",
    ]
    if report.skipped:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items()))
        parts.append(f"skipped: {skipped}")
    print("; ".join(parts))
    if warnings:  # the service announces its errors itself
        for error in report.errors:
            print(f"warning: {error}", file=sys.stderr)


def _index_with_progress(engine: Any, roots: Any, *, full: bool, embed: bool) -> Any:
    bars = _ProgressBars()
    try:
        return engine.index(roots, full=full, embed=embed, progress=bars)
    finally:
        bars.close()


def _hand_to_app(request: dict[str, Any]) -> int | None:
    """While the desktop app runs it holds the index: it does the command instead. None
    when no app answers (the command then runs here, or says who holds the index)."""
    from codanna_desktop.core import app_link

    try:
        reply = app_link.send(AppPaths.default().data_dir, request)
    except app_link.AppNotAnswering:
        return None
    if reply.get("declined"):  # `watch`: it searches, but the writing is not handed over
        return None
    if not reply.get("ok"):
        print(f"codanna-desktop: {reply.get('error', 'the app refused')}", file=sys.stderr)
        return int(reply.get("exit_code", EXIT_ERROR))
    print(reply.get("message", "done by the running desktop app"))
    return EXIT_OK


def _cmd_add(args: argparse.Namespace) -> int:
    folders = [str(Path(p).expanduser().resolve()) for p in args.paths]
    handed = _hand_to_app({"request": "add", "folders": folders})
    if handed is not None:
        return handed
    with _engine(writer=True, wait=args.wait) as engine:
        roots = [engine.add_root(path) for path in args.paths]
        for root in roots:
            print(f"added {root.path}")
        if not args.no_index:
            _print_report(_index_with_progress(engine, roots, full=False, embed=not args.no_embed))
            if engine.model_problem and not args.no_embed:
                print(f"warning: {engine.model_problem}", file=sys.stderr)
    return EXIT_OK


def _cmd_remove(args: argparse.Namespace) -> int:
    folder = str(Path(args.path).expanduser().resolve())
    handed = _hand_to_app({"request": "remove", "folder": folder})
    if handed is not None:
        return handed
    with _engine(writer=True, wait=args.wait) as engine:
        root = engine.remove_root(args.path)
        print(f"removed {root.path}")
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    handed = _hand_to_app({"request": "index", "full": bool(args.full)})
    if handed is not None:
        return handed
    with _engine(writer=True, wait=args.wait) as engine:
        if not engine.roots():
            print("No folders yet: add one with `codanna-desktop add PATH`.", file=sys.stderr)
            return EXIT_OK
        _print_report(_index_with_progress(engine, None, full=args.full, embed=not args.no_embed))
        if engine.model_problem and not args.no_embed:
            print(f"warning: {engine.model_problem}", file=sys.stderr)
    return EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    if args.batch is None and not args.query:
        print("codanna-desktop: search needs a QUERY (or --batch FILE)", file=sys.stderr)
        return EXIT_USAGE
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        print("codanna-desktop: --alpha must be between 0 and 1", file=sys.stderr)
        return EXIT_USAGE
    if args.k < 1:
        print("codanna-desktop: -k must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    from codanna_desktop.core import app_link

    request = {
        "request": "search",
        "query": args.query,
        "alpha": args.alpha,
        "k": args.k,
        "languages": list(args.lang),  # as typed: whoever answers resolves them
        "roots": [str(p.expanduser().resolve()) for p in args.root],
        "path_glob": args.path,
        "bend": not args.as_given,
    }
    if args.batch is None:
        # The running app (or `watch`) answers at once: its index is open and its model
        # loaded. Handing the search over imports nothing of the engine here.
        try:
            return _print_search(app_link.send(AppPaths.default().data_dir, request), args.json)
        except app_link.AppNotAnswering:
            pass
    try:
        languages = _languages(args.lang)
    except UnknownLanguageError as exc:
        print(f"codanna-desktop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request["languages"] = list(languages)
    with _search_engine(args.alpha) as engine:
        if not engine.roots():
            print("No folders yet: add one with `codanna-desktop add PATH`.", file=sys.stderr)
            return EXIT_NO_RESULTS
        if args.batch is not None:
            from codanna_desktop.core.files.filters import SearchFilters

            alpha = engine.settings.alpha if args.alpha is None else args.alpha
            filters = SearchFilters(
                languages=languages,
                root_ids=tuple(
                    r.id for r in engine.roots() if str(r.path) in set(request["roots"])
                ),
                path_glob=args.path,
            )
            return _batch_search(engine, args.batch, alpha, args.k, filters)
        return _print_search(app_link.answer_search(engine, request), args.json)


def _languages(typed: list[str]) -> tuple[str, ...]:
    """The languages of `--lang` (raises UnknownLanguageError). Without any, the
    grammars' registry is not imported."""
    if not typed:
        return ()
    from codanna_desktop.core.chunking.languages import resolve_languages

    return resolve_languages(typed)


@contextmanager
def _search_engine(alpha: float | None) -> Iterator[Any]:
    """What a search in this process reads: at exact words only (``--alpha 0``, or 0 in
    the settings) the lexical reader, which loads neither the engine nor the model nor
    the vector store; otherwise a reading engine."""
    from codanna_desktop.core.settings import load_settings

    paths = AppPaths.default()
    settings = load_settings(paths)
    opened: Any
    if (settings.alpha if alpha is None else alpha) > 0:
        from codanna_desktop.core.engine import Engine

        opened = Engine(paths, settings, writer=False)
    else:
        from codanna_desktop.core.ranking.lexical_reader import LexicalReader

        opened = LexicalReader(paths, settings)
    try:
        yield opened
    finally:
        opened.close()


def _print_search(reply: dict[str, Any], as_json: bool) -> int:
    """Print a search's answer (from this process or the running app) and its exit code."""
    if not reply.get("ok"):
        print(f"codanna-desktop: {reply.get('error')}", file=sys.stderr)
        return int(reply.get("exit_code", EXIT_ERROR))
    notes = list(reply.get("notes", []))  # "not found" first: the rest is only similar
    if reply.get("weight_note"):
        notes.append(f"ranked as a {reply['weight_note']} (--as-given uses --alpha as it is)")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    results = reply.get("results", [])
    labels: list[str] = reply.get("labels") or []
    if not as_json and len(labels) != len(results):
        from codanna_desktop.core.ranking.matching import Match  # an older app's answer

        labels = [Match(r["match"]).label() for r in results]
    for n, r in enumerate(results):
        if as_json:
            print(json.dumps(r, ensure_ascii=False))
            continue
        symbol = f"  {r['symbol']}" if r["symbol"] else ""
        print(
            f"{r['path']}:{r['start_line']}-{r['end_line']}{symbol}  [{r['language']}] "
            f"{labels[n]} · score {r['score']:.3f}"
            f" (lexical {r['lexical_part']:.2f} + semantic {r['semantic_part']:.2f})"
        )
        for line in r["snippet"].splitlines()[:3]:
            print(f"    {line}")
    return EXIT_OK if results and not reply.get("not_found") else EXIT_NO_RESULTS


def _batch_search(engine: Any, batch: Path, alpha: float, k: int, filters: Any) -> int:
    try:
        queries = _read_batch(batch)
    except _BadBatchLine as exc:
        print(f"codanna-desktop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for qid, query in queries:
        session = engine.search(query, filters, semantic=alpha > 0)
        ranked = [str(r.abs_path) for r in session.results(alpha, k)]
        print(json.dumps({"qid": qid, "ranked": ranked}, ensure_ascii=False))
    return EXIT_OK


class _BadBatchLine(Exception):
    pass


def _read_batch(batch: Path) -> list[tuple[Any, str]]:
    """Every (qid, query) of the file, read before the first search, so a bad line stops
    the run before anything is written."""
    try:
        data = sys.stdin.buffer.read() if str(batch) == "-" else batch.read_bytes()
    except OSError as exc:
        raise CodannaError(f"Cannot read {batch}: {exc.strerror}.") from exc
    queries: list[tuple[Any, str]] = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _BadBatchLine(f"{batch}:{n}: not UTF-8 text") from None
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            qid, query = item["qid"], item["query"]
        except (ValueError, KeyError, TypeError):
            raise _BadBatchLine(f'{batch}:{n}: not a {{"qid", "query"}} JSON line') from None
        if isinstance(query, bool) or not isinstance(query, str | int | float):
            raise _BadBatchLine(f"{batch}:{n}: the query must be text")
        if isinstance(qid, dict | list):
            raise _BadBatchLine(f"{batch}:{n}: the qid must be text or a number")
        queries.append((qid, str(query)))
    return queries


def _grep_parser(sub: Any) -> None:
    g = sub.add_parser(
        "grep",
        help="every line matching a regular expression, as ripgrep prints them",
        description="Exact search over the indexed folders with ripgrep's syntax and "
        "output. Exit status: 0 when something matched, 1 when nothing did, 2 on error.",
    )
    g.add_argument("args", nargs="*", metavar="PATTERN [PATH ...]")
    g.add_argument("-e", "--regexp", action="append", default=[], metavar="PATTERN")
    g.add_argument("-F", "--fixed-strings", action="store_true", help="literal text")
    case = g.add_mutually_exclusive_group()
    case.add_argument("-i", "--ignore-case", dest="case", action="store_const", const="ignore")
    case.add_argument("-S", "--smart-case", dest="case", action="store_const", const="smart")
    case.add_argument(
        "-s", "--case-sensitive", dest="case", action="store_const", const="sensitive"
    )
    g.add_argument("-w", "--word-regexp", action="store_true", help="whole words only")
    g.add_argument("-x", "--line-regexp", action="store_true", help="whole lines only")
    g.add_argument("-v", "--invert-match", action="store_true", help="the lines that do not match")
    g.add_argument(
        "-m", "--max-count", type=int, default=None, metavar="NUM",
        help="at most NUM matching lines per file",
    )  # fmt: skip
    g.add_argument("-l", "--files-with-matches", action="store_true", help="paths only")
    g.add_argument("-c", "--count", action="store_true", help="matching lines per file")
    g.add_argument("-C", "--context", type=int, default=0, metavar="N")
    g.add_argument("-A", "--after-context", type=int, default=0, metavar="N")
    g.add_argument("-B", "--before-context", type=int, default=0, metavar="N")
    numbers = g.add_mutually_exclusive_group()
    numbers.add_argument(
        "-n",
        "--line-number",
        dest="line_number",
        action="store_true",
        default=None,
        help="line numbers (the default on a terminal, as in ripgrep)",
    )
    numbers.add_argument(
        "-N", "--no-line-number", dest="line_number", action="store_false", help="no line numbers"
    )
    g.add_argument("--vimgrep", action="store_true", help="path:line:column:text per match")
    g.add_argument("--json", action="store_true", help="one JSON object per matching line")
    g.add_argument("--heading", dest="heading", action="store_true", default=None)
    g.add_argument("--no-heading", dest="heading", action="store_false")
    g.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    g.add_argument(
        "-t", "--type", "--lang", dest="lang", action="append", default=[], metavar="L",
        help="only this language (ripgrep's type names: py, rs, js...)",
    )  # fmt: skip
    g.add_argument(
        "-g", "--glob", "--path", dest="globs", action="append", default=[], metavar="GLOB",
        help="only paths matching GLOB (!GLOB leaves them out; repeatable)",
    )  # fmt: skip
    g.add_argument("-o", "--only-matching", action="store_true", help="each match alone")
    names = g.add_mutually_exclusive_group()
    names.add_argument(
        "-H", "--with-filename", dest="with_filename", action="store_true", default=None
    )
    names.add_argument("-I", "--no-filename", dest="with_filename", action="store_false")
    g.add_argument("--stats", action="store_true", help="say what was searched, on stderr")


def _cmd_grep(args: argparse.Namespace) -> int:
    """ripgrep over the index: reads only the catalog and the content index (no model)."""
    import time
    from dataclasses import replace

    from codanna_desktop.core.exact import output
    from codanna_desktop.core.exact.matcher import PatternOptions
    from codanna_desktop.core.exact.pattern import CaseMode, PatternError, alternation, escape
    from codanna_desktop.core.exact.search import ExactRequest, ExactSearcher, PathOutsideRootsError

    started = time.perf_counter()
    positional = list(args.args)
    patterns = list(args.regexp)
    if not patterns:
        if not positional:
            print("codanna-desktop: grep needs a PATTERN", file=sys.stderr)
            return EXIT_USAGE
        patterns = [positional.pop(0)]
    pattern = alternation(patterns, fixed=args.fixed_strings)
    fixed = args.fixed_strings and len(patterns) == 1
    if args.line_regexp:  # as ripgrep: the pattern must match the whole line
        pattern, fixed = f"^(?:{escape(pattern) if fixed else pattern})$", False
    options = PatternOptions(
        pattern,
        fixed=fixed,
        case=CaseMode(args.case or "sensitive"),
        word=args.word_regexp,
    )
    try:
        languages = _languages(args.lang)
    except UnknownLanguageError as exc:
        print(f"codanna-desktop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    context = max(args.context, args.after_context, args.before_context)
    request = ExactRequest(
        options,
        paths=[Path(p) for p in positional],
        path_glob=" ".join(args.globs) or None,
        languages=languages,
        keep_text=context > 0,
        invert=args.invert_match,
    )
    with ExactSearcher.open(AppPaths.default()) as searcher:
        try:
            result = searcher.search(request)
        except PatternError as exc:
            print(exc.pointed(), file=sys.stderr)
            return EXIT_USAGE
        except PathOutsideRootsError as exc:
            print(f"codanna-desktop: {exc}", file=sys.stderr)
            return EXIT_USAGE
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        if args.max_count is not None:
            kept = [replace(f, lines=f.lines.head(max(0, args.max_count))) for f in result.files]
            result.files = [f for f in kept if f.lines]
        tty = sys.stdout.isatty()
        names = output.PathNames(Path.cwd(), tuple(positional))
        # As ripgrep: a file's name is left out when the one PATH given is that file.
        one_file = len(positional) == 1 and Path(positional[0]).expanduser().is_file()
        with_filename = not one_file if args.with_filename is None else args.with_filename
        if args.json:
            chunks = output.json_lines(result, names, searcher.enclosing_symbol)
        elif args.files_with_matches:
            chunks = output.files_only(result, names)
        elif args.count:
            chunks = output.counts(result, names, with_filename=with_filename)
        elif args.vimgrep:
            chunks = output.vimgrep(result, names)
        else:
            style = output.Style(
                heading=tty if args.heading is None else args.heading,
                color=args.color == "always" or (args.color == "auto" and tty),
                context=args.context,
                before=args.before_context,
                after=args.after_context,
                line_numbers=tty if args.line_number is None else args.line_number,
                with_filename=with_filename,
                only_matching=args.only_matching,
            )
            chunks = output.standard(result, names, style)
        out = sys.stdout.buffer
        try:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            sys.stderr.close()
            return EXIT_OK if result.files else EXIT_NO_RESULTS
        if args.stats:
            print(
                f"{result.match_count} matches, {result.line_count} matched lines, "
                f"{len(result.files)} files contained matches, {result.candidates} files "
                f"searched, {time.perf_counter() - started:.3f} seconds",
                file=sys.stderr,
            )
    return EXIT_OK if result.files else EXIT_NO_RESULTS


def _cmd_status(args: argparse.Namespace) -> int:
    with _engine(writer=False) as engine:
        status = engine.status()
        if args.json:
            skipped_files = (
                [
                    {"path": str(Path(root) / rel), "reason": reason, "detail": detail}
                    for root, rel, reason, detail in engine.catalog.skipped_files()
                ]
                if args.skipped
                else None
            )
            print(
                json.dumps(
                    {
                        "data_dir": str(status.data_dir),
                        "model": status.model,
                        "model_problem": status.model_problem,
                        "vector_store": status.vector_store,
                        "vector_problem": status.vector_problem,
                        "vector_note": status.vector_note,
                        "lexical_note": status.lexical_note,
                        "files": status.files,
                        "chunks": status.chunks,
                        "embedded": status.embedded,
                        "skipped": status.skip_counts,
                        "roots": [
                            {
                                "path": str(r.root.path),
                                "files": r.files,
                                "chunks": r.chunks,
                                "embedded": r.embedded,
                                "skipped": r.skip_counts,
                                "error": r.root.error,
                            }
                            for r in status.roots
                        ],
                        **({"skipped_files": skipped_files} if args.skipped else {}),
                    },
                    indent=2,
                )
            )
            return EXIT_OK
        print(f"data: {status.data_dir}")
        print(f"model: {status.model}")
        print(f"vector store: {status.vector_store}")
        for line in (status.vector_problem, status.vector_note, status.lexical_note):
            if line:
                print(f"note: {line}")
        if not status.roots:
            print("No folders yet: add one with `codanna-desktop add PATH`.")
        for r in status.roots:
            state = (
                f"error: {r.root.error}"
                if r.root.error
                else (
                    "up to date" if r.embedded >= r.chunks else f"embedding {r.embedded}/{r.chunks}"
                )
            )
            print(
                f"{r.root.path}: {r.files} files, {r.chunks} chunks, {r.embedded} embedded,"
                f" {r.skipped} skipped; {state}"
            )
        if status.skip_counts:
            print(
                "skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(status.skip_counts.items()))
            )
        if args.skipped:
            for root, rel, reason, detail in engine.catalog.skipped_files():
                print(f"  {Path(root) / rel}: {reason}{f' ({detail})' if detail else ''}")
    return EXIT_OK


def _cmd_repair(args: argparse.Namespace) -> int:
    from codanna_desktop.core.repair import start_new_catalog

    aside = start_new_catalog(AppPaths.default(), wait_for_lock=-1 if args.wait else 0.0)
    print(f"set the old index aside in {aside.folder} (delete it once the new one works)")
    if aside.embeddings:
        print(f"kept {aside.embeddings} cached embeddings")
    with _engine(writer=True, wait=args.wait) as engine:
        roots = engine.roots()
        if not roots:
            print(
                "No folders were found to index again: add them with `codanna-desktop add PATH`.",
                file=sys.stderr,
            )
            return EXIT_OK
        for root in roots:
            print(f"indexing {root.path} again")
        _print_report(_index_with_progress(engine, None, full=True, embed=not args.no_embed))
        for root in engine.roots():
            if root.error:
                print(f"warning: {root.path}: {root.error}", file=sys.stderr)
        if engine.model_problem and not args.no_embed:
            print(f"warning: {engine.model_problem}", file=sys.stderr)
    return EXIT_OK


def _cmd_watch(args: argparse.Namespace) -> int:
    """The app's own writer loop (IndexingService: coalescing, resync after lost events,
    embedding between jobs), with a listener that prints instead of a window."""
    from codanna_desktop.core import app_link
    from codanna_desktop.core.service import IndexingService, ServiceEvent

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    first_pass = threading.Event()

    def listen(event: ServiceEvent) -> None:
        if event.kind == "report" and event.report is not None:
            if event.message:
                print(event.message)
            elif not first_pass.is_set() or _report_says_something(event.report):
                # The first pass (the folders against the disk) is always reported: it
                # says the index has caught up and that changes are followed from here.
                first_pass.set()
                _print_report(event.report, warnings=False)
        elif event.kind == "error":
            print(f"warning: {event.message}", file=sys.stderr)
        elif event.kind == "embedded":
            print("every chunk has its vector")
        sys.stdout.flush()

    with _engine(writer=True) as engine:
        roots = engine.roots()
        if not roots:
            print("No folders yet: add one with `codanna-desktop add PATH`.", file=sys.stderr)
            return EXIT_OK
        service = IndexingService(engine, listen, watch=True)
        service.start()
        # As the desktop app does: a `search` from another shell is answered here (the
        # index is open, the model loaded once).
        link = app_link.LinkServer(
            engine.paths.data_dir, lambda request: _watch_request(engine, request)
        )
        link.start()
        print(f"watching {len(roots)} folder(s); Ctrl+C stops", file=sys.stderr)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            link.close()
            service.stop()
    return EXIT_OK


def _watch_request(engine: Any, request: dict[str, Any]) -> dict[str, Any]:
    """A command from another shell while `watch` runs (core/app_link.py): it answers
    searches; `add`, `remove` and `index` it declines, so they say who holds the index
    (exit 3) or wait for it (`--wait`), as before."""
    from codanna_desktop.core import app_link

    if request.get("request") == "search":
        return app_link.answer_search(engine, request)
    return {"ok": False, "declined": True}


def _report_says_something(report: Any) -> bool:
    """A watcher's pass that found nothing to do is not worth a line."""
    return bool(
        report.files_indexed
        or report.files_deleted
        or report.chunks_added
        or report.chunks_embedded
        or report.chunks_from_cache
        or report.skipped
    )


def _cmd_model(args: argparse.Namespace) -> int:
    from codanna_desktop.core.semantic import model_store

    paths = AppPaths.default()
    if args.action == "list":
        from codanna_desktop.core.semantic.embedder import supported_models

        print("\n".join(supported_models()))
        return EXIT_OK
    if args.action == "install":
        for path in model_store.install_default_models(paths):
            print(f"model ready in {path}")
        return EXIT_OK
    problem = model_store.default_model_status(paths)
    folders = ", ".join(str(p) for p in model_store.default_model_dirs(paths))
    print(problem or f"models ready in {folders}")
    return EXIT_OK if problem is None else EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
