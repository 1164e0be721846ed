"""The seed corpus shipped in ``seeds/``: validated by the same models as any import."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bot.importers import ImportFileError, load_corpus_obj

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"


def seed_path() -> Path:
    return SEEDS_DIR / "corpus.json"


def load_seed(directory: Path = SEEDS_DIR):
    """The seed corpus file.  In ``seeds/``, an article without ``text`` takes it from ``articles/<id>.txt`` so every
    seed article stays byte-for-byte its source document."""
    obj = json.loads((directory / "corpus.json").read_text(encoding="utf-8"))
    for i, art in enumerate(obj.get("articles", [])):
        if "text" not in art:
            p = directory / "articles" / f"{art['id']}.txt"
            if not p.exists():
                raise ImportFileError(f"articles[{i}].text: missing, and no {p.name} in seeds/articles/")
            art["text"] = p.read_text(encoding="utf-8")
    return load_corpus_obj(obj)


def seed_fingerprint(directory: Path = SEEDS_DIR) -> str:
    h = hashlib.sha256()
    h.update((directory / "corpus.json").read_bytes())
    for p in sorted((directory / "articles").glob("*.txt")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
