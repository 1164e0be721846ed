"""`crosscheck` — the command line: check claims, explore the corpus, import/export, run the bot.

Exit codes: 0 success (a check with no match is a success), 1 runtime failure, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import Redactor, Settings, setup_logging
from bot.importers import ImportFileError, load_path, to_claimreview
from bot.matching import DEFAULT_THRESHOLD
from bot.render import render_text
from bot.seeds import load_seed, seed_fingerprint
from bot.service import CheckInputError, Checker, load_reranker, validate_claim
from storage.corpus import Actor, Corpus, CorpusError
from storage.db import StorageError
from storage.reader import CorpusReader

log = logging.getLogger("crosscheck")


class UsageError(Exception):
    pass


def _fail(msg: str, code: int = 2) -> int:
    print(f"crosscheck: {msg}", file=sys.stderr)
    return code


async def open_corpus(path: Path, *, check: str = "quick", seed: bool = True, defer_check: bool = False) -> Corpus:
    """Open (creating and migrating if needed) and seed a new database on first open.  ``defer_check``: see
    ``Corpus.open`` (a file that still needs its seed is checked before seeding)."""
    corpus = await Corpus.open(path, check=check, defer_check=defer_check)
    try:
        if seed:
            if defer_check and await corpus.meta("seeded") is None:
                await corpus.verified()
            await corpus.seed(load_seed(), seed_fingerprint())
    except BaseException:
        await corpus.close()
        raise
    return corpus


def prepare(path: Path, check: str = "quick", *, reading: bool = False) -> None:
    """Create, migrate and seed the file as needed.  ``reading``: for a command that only reads (check, console,
    stats), the quick integrity check runs only if something is to be written (a migration, the seed): it reads
    every page, seconds at a million claims, and SQLite checks the pages a read touches as it reads them (a damaged
    one is reported by ``main``).  ``full`` always runs: the operator asked for it."""

    async def go() -> None:
        corpus = await open_corpus(path, check=check, defer_check=reading and check == "quick")
        await corpus.close()  # stops a deferred check

    asyncio.run(go())


class Progress:
    """Progress on stderr when it is a terminal; silent when piped."""

    def __init__(self, label: str):
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        pct = int(100 * done / total)
        if pct != self.last:
            self.last = pct
            print(f"\r{self.label}: {done:,}/{total:,} ({pct}%)", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.last >= 0:
            print(file=sys.stderr)


# -- commands -------------------------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    prepare(args.db, settings.integrity_check, reading=True)
    reader = CorpusReader(args.db)
    checker = Checker(reader, reranker=load_reranker(settings.rerank))
    try:
        if args.batch:
            return _batch(checker, args)
        if args.text is None:
            return _fail("give the claim to check, or --batch FILE.jsonl")
        try:
            text = validate_claim(args.text if args.text != "-" else sys.stdin.read())
        except CheckInputError as exc:
            return _fail(str(exc))
        report = checker.check(text, top=args.top, threshold=args.threshold, thorough=True)
        if args.json:
            print(report.to_json())
        else:
            print(render_text(report), end="")
        return 0
    finally:
        reader.close()


def _batch(checker: Checker, args: argparse.Namespace) -> int:
    src = sys.stdin if args.batch == "-" else None
    try:
        fh = src or open(args.batch, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        return _fail(f"{args.batch}: {exc.strerror}")
    failed = 0
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            rid: Any = None
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise CheckInputError('each line must be an object with a "text" string')
                rid = obj.get("id", n)
                text = validate_claim(obj["text"])
                report = checker.check(text, top=args.top, threshold=args.threshold, thorough=True)
                out = {"id": rid, **json.loads(report.to_json())}
            except (json.JSONDecodeError, CheckInputError) as exc:
                failed += 1
                out = {"id": rid if rid is not None else n, "error": f"line {n}: {exc}"}
            print(json.dumps(out, ensure_ascii=False), flush=False)
    sys.stdout.flush()
    if failed:
        print(f"crosscheck: {failed} line(s) could not be checked", file=sys.stderr)
    return 2 if failed else 0


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    prepare(args.db, settings.integrity_check, reading=True)
    reader = CorpusReader(args.db)
    checker = Checker(reader, reranker=load_reranker(settings.rerank))
    counts = reader.counts()
    interactive = sys.stdin.isatty()
    if interactive:
        print(
            "Crosscheck console — type or paste a claim or a link, as if in a channel with auto-replies on.\n"
            f"Corpus: {counts['stories']} stories, {counts['articles']} articles, {counts['claims']} claims "
            f"({args.db}).\nCommands: /json (toggle JSON), /stats, /quit.  No token is set, so this is console mode; "
            "put DISCORD_TOKEN in .env to run the bot.\n"
        )
    as_json = False
    try:
        while True:
            try:
                line = input("> " if interactive else "")
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit", "quit", "exit"):
                break
            if line == "/json":
                as_json = not as_json
                print(f"JSON output {'on' if as_json else 'off'}")
                continue
            if line == "/stats":
                print(json.dumps(reader.counts(), indent=2))
                continue
            try:
                text = validate_claim(line)
            except CheckInputError as exc:
                print(f"! {exc}")
                continue
            report = checker.check(text, threshold=args.threshold)
            if as_json:
                print(report.to_json())
            elif report.matches:
                print(render_text(report))
            else:
                print("(no known story matches — in an auto-reply channel the bot stays silent)\n")
    except KeyboardInterrupt:
        print()
    finally:
        reader.close()
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    prepare(args.db, settings.integrity_check, reading=True)
    reader = CorpusReader(args.db)
    try:
        counts = reader.counts()
        counts["database_bytes"] = args.db.stat().st_size
        counts["corpus_version"] = reader.version()
        if args.json:
            print(json.dumps(counts))
        else:
            for k, v in counts.items():
                print(f"{k:>16}: {v:,}")
    finally:
        reader.close()
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> Any:
        corpus = await open_corpus(args.db, check=settings.integrity_check, seed=False)
        try:
            return await corpus.seed(load_seed(), seed_fingerprint(), force=args.force)
        finally:
            await corpus.close()

    result = asyncio.run(go())
    print(f"seeded: {result.describe()}" if result else "already seeded (use --force to load the seed files again)")
    return 0


def cmd_precompute(args: argparse.Namespace, settings: Settings) -> int:
    """Keep every article's own signals in the database (bot/precompute.py): reports read them instead of computing
    them.  The bot does this at its start; run it after a large import to have it done at once."""
    from bot.precompute import fill

    prepare(args.db, settings.integrity_check)
    print(fill(args.db).describe())
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        fmt, file = load_path(args.file, story=args.story)
    except ImportFileError as exc:
        return _fail(f"import failed, nothing changed: {exc}")
    progress = Progress(f"importing {Path(args.file).name}")

    async def go() -> Any:
        corpus = await open_corpus(args.db, check=settings.integrity_check)
        try:
            result = await corpus.apply(file, Actor(name="cli"), action=f"import {fmt}", progress=progress)
            if not args.no_index:
                await corpus.merge_after_import()  # one b-tree again after the import's inserts: faster checks
            return result
        finally:
            await corpus.close()

    try:
        result = asyncio.run(go())
    except CorpusError as exc:
        return _fail(f"import failed, nothing changed: {exc}")
    finally:
        progress.close()
    print(f"imported ({fmt}): {result.describe()}")
    if not args.no_index:
        took = build_matcher_index(args.db)
        if took is not None:
            print(f"matcher index saved for the bot's next start ({took:.1f} s)")
    if result.articles:
        print("the new articles' quality signals are kept by a running bot within a minute (or at its next "
              "start), or now with `crosscheck precompute`; until then a story's first check computes them")
    return 0


def build_matcher_index(path: Path) -> float | None:
    """Build the matcher's index for the database as it is now and save its snapshot beside it
    (``<db>.matcher-index``), so that the bot's next start loads it instead of rebuilding it (seconds at 100k
    stories).  Returns the seconds it took, or None if it failed: the import is done either way, and the bot then
    builds the index itself on its first check."""
    import time

    from bot.matching import Matcher

    t0 = time.perf_counter()
    try:
        reader = CorpusReader(path)
        try:
            Matcher(reader).index  # noqa: B018 - built (or found up to date) and saved by the matcher itself
        finally:
            reader.close()
    except Exception as exc:  # noqa: BLE001 - never turn a finished import into a failure
        log.warning("could not build the matcher index after the import (the bot will build it): %s", exc)
        return None
    return time.perf_counter() - t0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> Any:
        corpus = await open_corpus(args.db, check=settings.integrity_check)
        try:
            return await corpus.export(args.guild)
        finally:
            await corpus.close()

    file = asyncio.run(go())
    if args.format == "claimreview":
        data = json.dumps(to_claimreview(file), ensure_ascii=False, indent=2)
    else:
        data = file.model_dump_json(indent=2, exclude_none=True)
    if args.file == "-":
        print(data)
    else:
        Path(args.file).write_text(data + "\n", encoding="utf-8")
        print(f"exported {len(file.stories)} stories, {len(file.articles)} articles, {len(file.claims)} claims to {args.file}")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the Discord bot if a token is set; otherwise the console on the seed corpus."""
    if not settings.token:
        print("No DISCORD_TOKEN in the environment or .env: starting the console mode instead.\n", file=sys.stderr)
        return cmd_console(args, settings)
    from bot.app import run_bot

    return run_bot(settings, args.db)


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.token:
        return _fail("sync needs DISCORD_TOKEN (in the environment or .env)")
    from bot.app import sync_commands

    return sync_commands(settings, args.db, guild_id=args.guild, clear=args.clear)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """A verified copy of the database, safe while the bot runs (docs/reliability.md)."""
    from storage.backup import backup_database

    info = backup_database(args.db, args.path, keep=args.keep)
    print(f"backed up to {info.describe()} in {info.seconds:.1f}s")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the database with a verified backup; refuses while the bot runs (docs/reliability.md)."""
    from storage.backup import restore_database

    info = restore_database(args.path, args.db)
    kept = f"; the previous database is kept as {info.previous}" if info.previous else ""
    print(f"restored {info.describe()}{kept}")
    return 0


# -- parser ---------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crosscheck", description="Crosscheck: what sources disagree on, and why to trust them.")
    p.add_argument("--db", type=Path, default=None, help="database file (default: CROSSCHECK_DB or data/crosscheck.db)")
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("check", help="check a claim or link and print the report")
    c.add_argument("text", nargs="?", help="the claim or link ('-' reads standard input)")
    c.add_argument("--json", action="store_true", help="print the report as JSON (docs/report-format.md)")
    c.add_argument("--top", type=int, default=3, choices=range(1, 21), metavar="N", help="at most N matches (1-20)")
    c.add_argument("--threshold", type=float, default=None, help=f"minimum score 0-100 (default {DEFAULT_THRESHOLD:g})")
    c.add_argument("--batch", metavar="FILE.jsonl", help='check {"id","text"} lines; one JSON report per line')
    c.set_defaults(func=cmd_check)

    co = sub.add_parser("console", help="an interactive prompt that behaves like an auto-reply channel")
    co.add_argument("--threshold", type=float, default=None)
    co.set_defaults(func=cmd_console)

    s = sub.add_parser("stats", help="what the corpus holds")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_stats)

    se = sub.add_parser("seed", help="load the seed corpus (done automatically for a new database)")
    se.add_argument("--force", action="store_true", help="load the seed files again even if seeded before")
    se.set_defaults(func=cmd_seed)

    pc = sub.add_parser("precompute", help="keep every article's quality signals, so that reports need not compute them")
    pc.set_defaults(func=cmd_precompute)

    i = sub.add_parser("import", help="import a corpus JSON or ClaimReview JSON-LD file (all or nothing)")
    i.add_argument("file")
    i.add_argument("--story", help="attach ClaimReview claims to this existing story instead of new ones")
    i.add_argument("--no-index", action="store_true",
                   help="skip the end-of-import index work (merging the story index, saving the matcher's snapshot): "
                        "for all but the last of several files")
    i.set_defaults(func=cmd_import)

    e = sub.add_parser("export", help="export the global corpus (or a server's additions) to a file")
    e.add_argument("file", help="output path, or - for standard output")
    e.add_argument("--format", choices=("corpus", "claimreview"), default="corpus")
    e.add_argument("--guild", type=int, default=0, help="a server id: export that server's additions")
    e.set_defaults(func=cmd_export)

    r = sub.add_parser("run", help="start the bot (console mode when no token is set)")
    r.add_argument("--threshold", type=float, default=None)
    r.set_defaults(func=cmd_run)

    sy = sub.add_parser("sync", help="register the slash commands with Discord (run after install or upgrade)")
    sy.add_argument("--guild", type=int, default=None, help="sync to one server only (instant; for testing)")
    sy.add_argument("--clear", action="store_true", help="remove the commands instead")
    sy.set_defaults(func=cmd_sync)

    b = sub.add_parser("backup", help="copy the database to PATH, safely while the bot runs, and verify the copy")
    b.add_argument("path", type=Path, help="the backup file, or a directory to put a dated backup file in")
    b.add_argument("--keep", type=int, default=None, metavar="N",
                   help="with a directory: keep only the newest N dated backups there")
    b.set_defaults(func=cmd_backup)

    rs = sub.add_parser("restore", help="replace the database with the backup at PATH (stop the bot first)")
    rs.add_argument("path", type=Path, help="a backup made by `crosscheck backup`; the old database is kept as *.bak-*")
    rs.set_defaults(func=cmd_restore)
    return p


def _setting_errors(exc: Exception) -> str:
    """What is wrong with the settings, one clause per variable (never the value: it may be the token)."""
    if isinstance(exc, ValidationError):
        return Redactor([]).redact("; ".join(
            f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_input=False, include_url=False)))
    return Redactor([]).redact(str(exc).splitlines()[0])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # noqa: BLE001 - pydantic's message names the variable at fault
        return _fail(f"bad setting in the environment or .env: {_setting_errors(exc)}")
    level = settings.log_level
    if args.command not in (None, "run", "sync") and "log_level" not in settings.model_fields_set:
        level = "WARNING"  # one-shot commands print results, not progress logs, unless asked to
    setup_logging(level, [settings.token] if settings.token else None)
    if args.db is None:
        args.db = settings.database
    if args.command is None:  # `crosscheck` alone (or `python -m bot`) is `crosscheck run`
        args.command, args.func, args.threshold = "run", cmd_run, None
    if getattr(args, "threshold", 0) is None:
        args.threshold = settings.threshold
    try:
        return args.func(args, settings)
    except StorageError as exc:
        return _fail(str(exc), 1)
    except sqlite3.DatabaseError as exc:  # a damaged page met by a command that read without the whole-file check
        return _fail(
            f"the database {args.db} could not be read ({exc}). Check it with `CROSSCHECK_INTEGRITY_CHECK=full "
            "crosscheck stats`, then restore a backup with `crosscheck restore PATH` if it is damaged.",
            1,
        )
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
