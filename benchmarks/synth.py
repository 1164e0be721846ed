"""A deterministic synthetic corpus for the speed/scale benchmark (benchmarks/run.py).

``generate(n_stories, seed)`` yields corpus-format records: per story about 10 claims and 3-5 articles (titles, URLs,
a few paragraphs each), 2-3 entities with aliases (people, organisations, places; names made from syllables so
they are new words, as real names are), 3 topic terms, and English vocabulary drawn with Zipf frequencies so that
common words are common and rare words rare.  Hard near-duplicates on purpose: every 4th story reuses the entities
of the one before with another topic ("X and Y sign a trade deal" next to "X and Y sign a military deal"), and
every 7th reuses the topic with other entities.  One story in five has no entities (an imported fact-check), so
the matcher's plain lexical path is exercised too.

``queries(...)`` makes the query sets with their gold story: short claims (paraphrased, some with typos), long
pastes (an article's paragraphs plus chatter, ~1,500 characters) and links (the article's URL with tracking
parameters), and ordinary chatter that should match nothing.  Same seed, same output, on any machine.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

GENERATOR_VERSION = 4

_SYL = ("ka ri to mo na vel dor an is ur ber lin sa ko va len tra mi ros el gar fen tho lu pa zen ima cor ast "
        "bre dan hol mar quo sil tev wen yor zal ni ob ex fa gu he ja").split()

NOUNS = """agreement deal treaty pact accord ban law bill vote election ballot court judge ruling verdict lawsuit
police officer arrest suspect investigation probe report study survey scientist researcher vaccine virus outbreak
hospital doctor nurse patient drug medicine trial school teacher student university exam tuition company ceo
shares market price prices inflation tax taxes budget deficit loan bank rate rates jobs unemployment wages strike
union factory plant mine oil gas pipeline energy power grid blackout solar wind nuclear reactor climate flood
drought wildfire storm hurricane earthquake tsunami heatwave crop harvest wheat rice farmers food shortage water
dam river bridge road railway train airport flight airline pilot crash accident fire explosion attack bomb
missile drone army soldier troops border refugees migrants asylum embassy ambassador minister president senator
governor mayor parliament congress party coalition protest protesters rally riot curfew lockdown mask masks
quarantine tests test results data leak hack hackers ransomware password app platform video photo image post
account website network satellite rocket launch space mission telescope planet moon island coast port ship
tanker cargo fishing whale shark zoo animal dog cat bird museum painting statue church mosque temple festival
concert singer actor film movie award prize football match team coach player stadium olympics record medal
champion referee transfer contract salary pension healthcare insurance housing rent mortgage prisoner prison
sentence fine penalty ban sanctions exports imports tariffs trade currency bitcoin crypto exchange fraud scam
charity donation aid relief camp volunteers census population birth rate marriage divorce children parents
""".split()
#: Everyday words (the ones chatter is made of) are news words too: they get ordinary, mid-range frequencies.
EVERYDAY = """game games night tonight today tomorrow weekend friday morning coffee pizza food dinner lunch
movie season episode song music book homework class meeting link rules server cat dog wifi phone birthday job
help place downtown rain weather boss fight stream streaming meme photo video season team friends family school
""".split()
VERBS = """signs signed bans banned approves approved rejects rejected announces announced denies denied confirms
confirmed launches launched cancels cancelled delays delayed raises raised cuts cut blocks blocked orders ordered
arrests arrested charges charged fines fined sues sued warns warned claims claimed reveals revealed leaks leaked
closes closed opens opened suspends suspended extends extended plans planned builds built sells sold buys bought
funds funded shuts shut restores restored destroys destroyed attacks attacked protects protected
""".split()
ADJS = """new secret illegal massive huge tiny historic controversial emergency national local federal foreign
military economic nuclear digital fake false real official unofficial temporary permanent free expensive cheap
deadly dangerous safe toxic green renewable public private global regional rural urban annual record final
""".split()
FILLER = """the a of in to for on with at by from that this as is was are were be been will would could after
before over under about into against during without between""".split()
CHATTER = [
    "lol that was such a good game last night", "anyone up for some ranked later tonight?", "gm everyone ☀️",
    "what time is the meeting tomorrow", "i can't believe it's already friday", "brb getting food 🍕",
    "has anyone seen my headphones i left them somewhere", "omg this meme is hilarious 😂😂", "good night all",
    "who's streaming today?", "can someone send the link to the server rules", "happy birthday!!! 🎉🎂",
    "my cat just knocked over my coffee again", "ok but the new season is actually really good",
    "anyone know a good pizza place downtown", "the wifi at school is so slow today", "lmao same",
    "just finished my homework finally", "does anyone want to play minecraft", "thanks for the help earlier!",
    "this song has been stuck in my head all day", "how do i change my nickname here", "ngl that's pretty cool",
    "we should do a movie night this weekend", "i'm so tired of rain", "congrats on the new job!",
    "what's everyone having for dinner", "that boss fight took me like 3 hours", "see you guys tomorrow 👋",
    "the train was late again this morning", "honestly the best episode so far", "did you finish the book?",
]
TYPO_KEEP = 0.75


def _zipf_weights(n: int) -> list[float]:
    return [1.0 / (i + 1) for i in range(n)]


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYL) for _ in range(parts)).capitalize()


@dataclass
class SynthStory:
    id: str
    title: str
    entities: list[dict]
    topic: list[str]
    claims: list[str]
    articles: list[dict] = field(default_factory=list)


class Generator:
    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        rng = self.rng
        # A lexicon of invented rare words (jargon, places, products) on top of the common ones: Zipf tail.
        self.rare = sorted({_name(rng, rng.randint(2, 4)).lower() for _ in range(40_000)})
        rng.shuffle(self.rare)
        self.nouns = NOUNS[:120] + EVERYDAY + NOUNS[120:] + self.rare[:20_000]
        self.noun_cum = list(itertools.accumulate(_zipf_weights(len(self.nouns))))
        self.people = [f"{_name(rng, 2)} {_name(rng, 3)}" for _ in range(30_000)]
        self.places = [_name(rng, rng.randint(2, 3)) for _ in range(8_000)]
        self.orgs = [f"{_name(rng, 2)} {rng.choice(['Group', 'Party', 'Institute', 'Bank', 'Corp', 'Council', 'Union'])}"
                     for _ in range(8_000)]

    def _entity(self, kind: str) -> dict:
        rng = self.rng
        if kind == "person":
            name = rng.choice(self.people)
            first, last = name.split(" ", 1)
            aliases = [last, f"{first[0]}. {last}"]
        elif kind == "place":
            name = rng.choice(self.places)
            aliases = [name + "n", name + "ian", _name(rng, 2)]  # demonym-like forms and a capital city
        else:
            name = rng.choice(self.orgs)
            aliases = ["".join(w[0] for w in name.split()).upper() + "X", name.split()[0]]
        return {"id": name.lower().replace(" ", "-").replace(".", ""), "name": name, "kind": kind, "aliases": aliases}

    def _noun(self) -> str:
        return self.nouns[bisect.bisect(self.noun_cum, self.rng.random() * self.noun_cum[-1])]

    def _sentence(self, subj: str, topic: list[str], n_extra: int) -> str:
        rng = self.rng
        words = [subj, rng.choice(VERBS), rng.choice(FILLER[:2]), rng.choice(ADJS), topic[0]]
        for _ in range(n_extra):
            words.append(rng.choice(FILLER) if rng.random() < 0.35 else (rng.choice(ADJS) if rng.random() < 0.2 else self._noun()))
        if len(topic) > 1 and rng.random() < 0.8:
            words.insert(rng.randint(3, len(words)), topic[1])
        return " ".join(words)

    def story(self, i: int, prev: SynthStory | None, prefix: str = "s") -> SynthStory:
        rng = self.rng
        plain = i % 5 == 4
        if prev and i % 4 == 1 and prev.entities:  # same entities, another topic: the hard negative
            entities = [dict(e) for e in prev.entities]
        else:
            entities = list({e["id"]: e for e in (self._entity(k) for k in rng.sample(
                ["person", "place", "organization", "place"], rng.choice([2, 2, 3])))}.values())
        if prev and i % 7 == 3:  # same topic, other entities
            topic = list(prev.topic)
        else:
            topic = [self._noun(), rng.choice(self.rare[:20_000]), self._noun()]  # one rare, distinctive word
        names = [e["name"] for e in entities] or [self._noun().capitalize()]
        claims = []
        for _ in range(rng.randint(8, 12)):
            subj = " and ".join(rng.sample(names, min(len(names), 2))) if names else self._noun()
            claims.append(self._sentence(subj, topic, rng.randint(5, 14)).capitalize()[:400])
        title = f"{' and '.join(names[:2])} {rng.choice(VERBS)} {rng.choice(ADJS)} {topic[0]} {topic[1]}"
        st = SynthStory(f"{prefix}{i:07d}", title[:200], [] if plain else entities, topic, claims)
        for j in range(rng.randint(3, 5)):
            paras = []
            for _ in range(rng.randint(3, 6)):
                paras.append(". ".join(self._sentence(rng.choice(names), topic, rng.randint(8, 20)).capitalize()
                                       for _ in range(rng.randint(2, 4))) + ".")
            art_title = self._sentence(names[0], topic, rng.randint(2, 5)).capitalize()
            slug = "-".join(art_title.lower().split()[:8])
            st.articles.append({
                "id": f"{st.id}-a{j}", "title": art_title[:200], "text": "\n\n".join(paras),
                "url": f"https://news{rng.randint(1, 400)}.example/{2020 + rng.randint(0, 6)}/{rng.randint(1, 12):02d}/{slug}-{i}{j}",
                "outlet": f"outlet-{rng.randint(1, 400)}",
            })
        return st


def generate(n_stories: int, seed: int = 7, prefix: str = "s") -> Iterator[SynthStory]:
    """``n_stories`` stories with ids ``{prefix}0000000`` ...; another prefix (and seed) makes stories that can be
    imported on top of a corpus generated with the defaults (benchmarks/run.py --import-into)."""
    gen = Generator(seed)
    prev = None
    for i in range(n_stories):
        prev = gen.story(i, prev, prefix)
        yield prev


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 6 or not word.isalpha():
        return word
    k = rng.randint(1, len(word) - 2)
    return word[:k] + word[k + 1:]


def _paraphrase(rng: random.Random, text: str, typos: bool) -> str:
    out = []
    for w in text.split():
        if w.lower() in FILLER and rng.random() < 0.3:
            continue
        if typos and rng.random() < 0.15:
            w = _typo(rng, w)
        out.append(w)
    if rng.random() < 0.5:
        out = ["is", "it", "true", "that"] + out + ["?"]
    return " ".join(out)


def queries(stories: list[SynthStory], n: int, seed: int = 11) -> dict[str, list[tuple[str, str]]]:
    """{kind: [(text, gold story id or "")]} for kinds short, long, link, chatter."""
    rng = random.Random(seed)
    picked = [stories[rng.randrange(len(stories))] for _ in range(n)]
    short = [(_paraphrase(rng, rng.choice(s.claims), typos=rng.random() < 0.3), s.id) for s in picked]
    long = []
    for s in picked:
        art = rng.choice(s.articles)
        body = art["text"].replace("\n\n", " ")[:1200]
        long.append((f"{rng.choice(CHATTER)} look at this: {body} {rng.choice(CHATTER)}", s.id))
    link = [(f"{art['url']}?utm_source=twitter&utm_medium=social", s.id) for s in picked for art in [rng.choice(s.articles)]]
    chatter = []
    for _ in range(max(n, 500)):
        a, b = rng.sample(CHATTER, 2)
        chatter.append((a if rng.random() < 0.6 else f"{a} {b}", ""))
    return {"short": short, "long": long, "link": link, "chatter": chatter}
