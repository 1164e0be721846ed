"""What a moderator's edit costs the checks of a running bot on a large corpus.

    .venv/bin/python -m benchmarks.edit_pause benchmarks/.cache/synth-100000-g4-s5

On a copy of the cached corpus (deleted afterwards): a matcher loads its index (snapshot), a thread runs short-claim
checks back to back, and meanwhile one story is added through ``Corpus.apply`` (as ``/corpus story-add`` does).  The
corpus version changes, so the matcher's in-memory index must be rebuilt.  Printed per mode: the checks' p50 and the
longest check after the edit (until the new story is found, at most 60 s, and 2 s more), and how long until the new
story is found.  The checks run back to back in one thread: the worst case for a background rebuild, which shares
Python's GIL with them.

Modes: ``background`` (the default: the rebuild runs in a background thread while checks use the previous index) and
``in the check`` (``background_rebuild=False``: the check that notices the change rebuilds, as before).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from bot.matching import Matcher
from bot.models import Claim, CorpusFile, Entity, Story
from storage.corpus import Actor, Corpus
from storage.reader import CorpusReader

WINDOW_S = 60.0
NEW = Story(id="zz-edit-pause", title="Quokkas elected to the harbour council", topic_terms=["elected"],
            entities=[Entity(id="quokka", name="Quokka Party"), Entity(id="harbour", name="Harbour Council")])
QUERY = "the Quokka Party was elected to the Harbour Council"


def run(folder: Path, background: bool | None, log=print) -> dict:
    qs = json.loads((folder / "queries.json").read_text(encoding="utf-8"))
    texts = [t for t, _gold in qs["short"]]
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix="edit-pause-") as tmp:
        db = Path(tmp) / "corpus.db"
        shutil.copyfile(folder / "corpus.db", db)
        snap = Path(f"{folder / 'corpus.db'}.matcher-index")
        if snap.exists():
            shutil.copyfile(snap, f"{db}.matcher-index")
        reader = CorpusReader(db)
        matcher = Matcher(reader, background_rebuild=background)
        matcher.index  # noqa: B018 - loaded (snapshot) before the clock starts
        lat: list[tuple[float, float]] = []  # (start, seconds) of every check, the probes for the new story included
        found_at: list[float] = []
        stop = threading.Event()
        edited_at: list[float] = []

        def timed(text: str):
            t = time.perf_counter()
            result = matcher.match(text, None)
            lat.append((t, time.perf_counter() - t))
            return result

        def checks() -> None:
            i = 0
            while not stop.is_set():
                timed(texts[i % len(texts)])
                i += 1
                if edited_at and not found_at and i % 20 == 0 and any(h.story_id == NEW.id for h in timed(QUERY).hits):
                    found_at.append(time.perf_counter())

        worker = threading.Thread(target=checks)
        worker.start()
        time.sleep(1.0)

        async def edit() -> float:
            corpus = await Corpus.open(db)
            try:
                t = time.perf_counter()
                await corpus.apply(CorpusFile(stories=[NEW], claims=[Claim(id="zz-edit-pause-c", story=NEW.id, text=QUERY)]),
                                   Actor(name="bench"), action="story-add")
                return t
            finally:
                await corpus.close()

        edited = asyncio.run(edit())
        edited_at.append(edited)
        deadline = edited + WINDOW_S
        while time.perf_counter() < deadline and not found_at:
            time.sleep(0.1)
        time.sleep(max(0.0, min(2.0, deadline - time.perf_counter())))  # a little of the time after, too
        stop.set()
        worker.join()
        matcher.wait_for_index()  # a rebuild still running must not outlive the reader
        reader.close()
    after = sorted(s for t, s in lat if t >= edited)
    out = {
        "mode": "in the check" if background is False else "background",
        "checks_after_edit": len(after),
        "p50_ms": after[len(after) // 2] * 1000 if after else None,
        "max_ms": after[-1] * 1000 if after else None,
        "new_story_found_after_s": (found_at[0] - edited) if found_at else None,
    }
    log(f"{out['mode']:>12}: {out['checks_after_edit']:,} checks after the edit (until the new story was found, +2 s), p50 "
        f"{out['p50_ms']:.2f} ms, longest {out['max_ms']:,.0f} ms; the new story found after "
        + (f"{out['new_story_found_after_s']:.1f} s" if found_at else "never (in the window)"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a cached benchmark folder (corpus.db, queries.json)")
    args = ap.parse_args(argv)
    results = [run(args.folder, mode) for mode in (None, False)]
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
