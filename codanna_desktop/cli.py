"""`codanna-desktop`: with no arguments the desktop app; sub-commands run the engine headless.

Exit codes a script can rely on:
  0 success; 1 a search found nothing; 2 bad usage; 3 the index is held by another writer;
  4 any other error the message explains (missing folder, model, database, settings).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from codanna_desktop import __version__
from codanna_desktop.core.errors import CodannaError, IndexLockedError
from codanna_desktop.core.settings import AppPaths

EXIT_OK, EXIT_NO_RESULTS, EXIT_USAGE, EXIT_LOCKED, EXIT_ERROR = 0, 1, 2, 3, 4
_COMMANDS = {"gui", "add", "remove", "index", "search", "status", "watch", "model"}


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
    s.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    s.add_argument("--lang", action="append", default=[], metavar="L", help="only this language")
    s.add_argument("--path", default=None, metavar="GLOB", help="only paths matching GLOB")
    s.add_argument("--json", action="store_true", help="one JSON object per result")
    s.add_argument(
        "--batch",
        type=Path,
        metavar="QUERIES.jsonl",
        help='run {"qid","query"} lines; write {"qid","ranked":[paths]} lines',
    )

    st = sub.add_parser("status", help="folders, counts, model and store")
    st.add_argument("--json", action="store_true")
    st.add_argument("--skipped", action="store_true", help="list skipped files with reasons")

    sub.add_parser("watch", help="index, then keep the index live as files change (Ctrl+C stops)")

    m = sub.add_parser("model", help="the embedding model")
    m.add_argument(
        "action",
        choices=["install", "status", "list"],
        help="install the default model, check it, or list fastembed's models",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # A frozen app (installers) starts its indexing worker processes through this entry.
    multiprocessing.freeze_support()
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
        return _run_gui([str(p) for p in getattr(args, "paths", [])])
    try:
        handler = globals()[f"_cmd_{args.command}"]
        return int(handler(args))
    except IndexLockedError as exc:
        print(f"codanna-desktop: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except CodannaError as exc:
        print(f"codanna-desktop: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("codanna-desktop: interrupted", file=sys.stderr)
        return 130


def _run_gui(folders: list[str]) -> int:
    try:
        from codanna_desktop.app.main import run_app
    except ImportError as exc:
        print(f"codanna-desktop: the desktop app cannot start ({exc}).", file=sys.stderr)
        _parser().print_help()
        return EXIT_ERROR
    return run_app(folders)


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


def _cmd_add(args: argparse.Namespace) -> int:
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
    with _engine(writer=True, wait=args.wait) as engine:
        root = engine.remove_root(args.path)
        print(f"removed {root.path}")
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    with _engine(writer=True, wait=args.wait) as engine:
        if not engine.roots():
            print("No folders yet: add one with `codanna-desktop add PATH`.", file=sys.stderr)
            return EXIT_OK
        _print_report(_index_with_progress(engine, None, full=args.full, embed=not args.no_embed))
        if engine.model_problem and not args.no_embed:
            print(f"warning: {engine.model_problem}", file=sys.stderr)
    return EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    from codanna_desktop.core.filters import SearchFilters

    if args.batch is None and not args.query:
        print("codanna-desktop: search needs a QUERY (or --batch FILE)", file=sys.stderr)
        return EXIT_USAGE
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        print("codanna-desktop: --alpha must be between 0 and 1", file=sys.stderr)
        return EXIT_USAGE
    if args.k < 1:
        print("codanna-desktop: -k must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    filters = SearchFilters(languages=tuple(args.lang), path_glob=args.path)
    with _engine(writer=False) as engine:
        alpha = engine.settings.alpha if args.alpha is None else args.alpha
        if not engine.roots():
            print("No folders yet: add one with `codanna-desktop add PATH`.", file=sys.stderr)
            return EXIT_NO_RESULTS
        if args.batch is not None:
            return _batch_search(engine, args.batch, alpha, args.k, filters)
        session = engine.search(args.query, filters)
        results = session.results(alpha, args.k)
        for note in session.notes:
            print(f"note: {note}", file=sys.stderr)
        for r in results:
            if args.json:
                print(json.dumps(r.to_json(), ensure_ascii=False))
            else:
                where = f"{r.abs_path}:{r.start_line}-{r.end_line}"
                symbol = f"  {r.symbol}" if r.symbol else ""
                print(
                    f"{where}{symbol}  [{r.language}] score {r.score:.3f}"
                    f" (lexical {r.lexical_part:.2f} + semantic {r.semantic_part:.2f})"
                )
                for line in r.snippet.splitlines()[:3]:
                    print(f"    {line}")
        return EXIT_OK if results else EXIT_NO_RESULTS


def _batch_search(engine: Any, batch: Path, alpha: float, k: int, filters: Any) -> int:
    try:
        lines = batch.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        print(f"codanna-desktop: cannot read {batch}: {exc.strerror}", file=sys.stderr)
        return EXIT_ERROR
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            qid, query = item["qid"], str(item["query"])
        except (ValueError, KeyError, TypeError):
            print(f'codanna-desktop: {batch}:{n}: not a {{"qid", "query"}} line', file=sys.stderr)
            return EXIT_USAGE
        ranked = [str(r.abs_path) for r in engine.search(query, filters).results(alpha, k)]
        print(json.dumps({"qid": qid, "ranked": ranked}, ensure_ascii=False))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    with _engine(writer=False) as engine:
        status = engine.status()
        if args.json:
            print(
                json.dumps(
                    {
                        "data_dir": str(status.data_dir),
                        "model": status.model,
                        "model_problem": status.model_problem,
                        "vector_store": status.vector_store,
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
                    },
                    indent=2,
                )
            )
            return EXIT_OK
        print(f"data: {status.data_dir}")
        print(f"model: {status.model}")
        print(f"vector store: {status.vector_store}")
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


def _cmd_watch(args: argparse.Namespace) -> int:
    """The app's own writer loop (IndexingService: coalescing, resync after lost events,
    embedding between jobs), with a listener that prints instead of a window."""
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
        print(f"watching {len(roots)} folder(s); Ctrl+C stops", file=sys.stderr)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            service.stop()
    return EXIT_OK


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
    from codanna_desktop.core import model_store

    paths = AppPaths.default()
    if args.action == "list":
        from codanna_desktop.core.embedder import supported_models

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
