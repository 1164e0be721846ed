"""What a moderator's edit costs the checks of a running bot on a large corpus.

    .venv/bin/python -m benchmarks.edit_pause benchmarks/.cache/synth-100000-g4-s3

On a copy of the cached corpus (deleted afterwards): a matcher loads its index (snapshot), a thread runs short-claim
checks back to back, and meanwhile one story is added through ``Corpus.apply`` (as ``/corpus story-add`` does).  The
corpus version changes, so the matcher's in-memory index must be rebuilt.  Printed per mode: the checks' p50 and the
longest check in the 15 s after the edit, and how long until the new story is found.

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

WINDOW_S = 15.0
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
        lat: list[tuple[float, float]] = []  # (start, seconds)
        found_at: list[float] = []
        stop = threading.Event()

        def checks() -> None:
            i = 0
            while not stop.is_set():
                t = time.perf_counter()
                matcher.match(texts[i % len(texts)], None)
                lat.append((t, time.perf_counter() - t))
                i += 1
                if not found_at and i % 20 == 0 and any(h.story_id == NEW.id for h in matcher.match(QUERY).hits):
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
        time.sleep(WINDOW_S)
        stop.set()
        worker.join()
        reader.close()
    after = sorted(s for t, s in lat if t >= edited)
    out = {
        "mode": "in the check" if background is False else "background",
        "checks_after_edit": len(after),
        "p50_ms": after[len(after) // 2] * 1000 if after else None,
        "max_ms": after[-1] * 1000 if after else None,
        "new_story_found_after_s": (found_at[0] - edited) if found_at else None,
    }
    log(f"{out['mode']:>12}: {out['checks_after_edit']:,} checks in {WINDOW_S:.0f} s after the edit, p50 "
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
