"""Load: a burst of concurrent /check interactions plus chatter in an auto-reply channel, through the real
``CrosscheckBot`` and its cogs (checks go through ``CrosscheckBot.check_for`` -> ``asyncio.to_thread(Checker.check)``,
exactly as in Discord), with only the network replaced by the fake Discord of tests/cogs.

Measured:
- event-loop lag: a ticker task asks to wake every 10 ms and records how late it wakes (max, p99, p50);
- memory: resident set size sampled by the ticker (peak over the baseline) and after the burst;
- answers: every interaction must end in a report, a "no known story" answer, or a clear cooldown message;
- chatter: messages checked, shed, replied (the per-channel and global caps hold).

    .venv/bin/python -m benchmarks.reliability_load                 # 1,000 checks + 1,000 chatter messages
    .venv/bin/python -m benchmarks.reliability_load --checks 200 --chatter 200 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUERIES = [
    "Russia and the Taliban signed a military alliance, Moscow and Kabul are now allies",
    "Moscow inks defense pact with Kabul",
    "Shoigu and Yaqoob sign military-technical cooperation agreement",
    "The city council approved a new bicycle lane on the high street yesterday",
    "https://kabuldispatch.example/news/russia-afghanistan-military-technical-agreement",
    "#MoscowKabulPact is a military alliance say reports",
    "Did Russia just make an alliance with the Taliban??",
    "Random chatter about football scores and the weather this weekend",
]
CHATTER = [
    "lol did you see the Moscow Kabul military pact news today",
    "Russia and Afghanistan signed a defence agreement apparently",
    "anyone watching the match tonight? should be a good one honestly",
    "the Taliban and Russia are allies now, a military alliance was signed",
    "what time is the meeting tomorrow, I forgot to write it down",
]


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: peak RSS instead
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.asynccontextmanager
async def load_bot(tmp: Path) -> AsyncIterator[tuple[Any, Any]]:
    """A real CrosscheckBot (seeded database, cogs loaded) around the fake Discord of tests/cogs."""
    import pytest

    from bot.app import CrosscheckBot
    from bot.config import Settings
    from tests.cogs import conftest as h

    settings = Settings(_env_file=None, DISCORD_TOKEN="", CROSSCHECK_THRESHOLD=50)
    b = CrosscheckBot(settings, tmp / "crosscheck.db")
    with pytest.MonkeyPatch.context() as mp:
        fake = h.wire_fake_discord(b, mp.setattr)
        await h.start_fake_bot(b)
        state = b._connection
        state._add_guild_from_data(h.guild_payload(
            h.GUILD_A, "Server A",
            [h.channel_payload(h.CHAN_A, h.GUILD_A, "news"), h.channel_payload(h.CHAN_A2, h.GUILD_A, "offtopic")], []))
        state._add_guild_from_data(h.guild_payload(h.GUILD_B, "Server B", [h.channel_payload(h.CHAN_B, h.GUILD_B, "general")], []))
        await b.setup_hook()
        try:
            yield b, fake
        finally:
            await b.close()


def classify(calls: list[Any]) -> str:
    """What the person who ran /check finally saw."""
    visible = [c for c in calls if c.kind in ("respond", "followup", "edit", "update")]
    if not visible:
        return "unanswered"
    text = "\n".join(c.text for c in visible)
    if "Slow down" in text:
        return "cooldown"
    if "No known story" in text or "no known story" in text.lower():
        return "no match"
    if any(c.embed_dicts for c in visible):
        return "report"
    return "other: " + text[:200]


async def burst(bot: Any, fake: Any, *, checks: int = 1000, users: int = 250, chatter: int = 1000,
                seed: int = 1, tick: float = 0.01, user_base: int = 0) -> dict[str, Any]:
    """Fire ``checks`` /check interactions from ``users`` members and ``chatter`` messages in an auto-reply channel,
    all at once; return the measurements."""
    from tests.cogs import conftest as h

    rng = random.Random(seed)
    await bot.corpus.set_autoreply(h.GUILD_A, h.CHAN_A, enabled=True)
    cog = bot.get_cog("AutoReply")
    await cog.reload()
    # Warm the matcher's index and the report cache, as a running bot has.
    await bot.check(QUERIES[0], h.GUILD_A)

    lags: list[float] = []
    rss: list[int] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        n = 0
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(tick)
            lags.append(max(0.0, loop.time() - t0 - tick))
            n += 1
            if n % 10 == 0:  # reading /proc costs ~1 ms here: sample memory every 10th tick only
                rss.append(_rss_bytes())

    gc_pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
            gc_cpu[1] = time.thread_time()
        else:
            gc_cpu[0] += time.thread_time() - gc_cpu[1]
            if info.get("generation") == 2:
                gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000)

    gc.collect()
    rss_before = _rss_bytes()
    interactions = []
    for i in range(checks):
        uid = 600000000000000000 + user_base + rng.randrange(users)
        interactions.append(fake.command("check", {"claim": rng.choice(QUERIES)}, user=uid, guild=h.GUILD_A,
                                         channel=h.CHAN_A2))
    messages = []
    for i in range(chatter):
        payload = fake.user_message(rng.choice(CHATTER), author=610000000000000000 + user_base + rng.randrange(users),
                                    channel=h.CHAN_A, guild=h.GUILD_A)
        messages.append(fake.message_object(payload))
    n_calls = len(fake.calls)
    # The CPU time of every callback the loop runs (thread_time: other processes on the machine do not count), to
    # show that no piece of work on the loop is long, whatever the wall clock says on a busy machine.
    longest = [0.0, "", 0.0, ""]  # with garbage collection; without (the callback's own work)
    real_run = asyncio.events.Handle._run
    gc_cpu = [0.0, 0.0]  # total GC thread time, start of the current collection

    def timed_run(handle: asyncio.events.Handle) -> None:
        g, t = gc_cpu[0], time.thread_time()
        real_run(handle)
        spent = time.thread_time() - t
        if spent > longest[0]:
            longest[0], longest[1] = spent, repr(handle)[:160]
        own = spent - (gc_cpu[0] - g)
        if own > longest[2]:
            longest[2], longest[3] = own, repr(handle)[:160]

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    gc.callbacks.append(on_gc)
    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(tick * 3)
    started = time.perf_counter()
    # Events arrive the way the gateway delivers them: read one at a time (the loop runs in between) and each
    # dispatched as its own task, interactions and messages interleaved.
    events = [fake.run(i) for i in interactions] + [cog.on_message(m) for m in messages]
    rng.shuffle(events)
    tasks = []
    for ev in events:
        tasks.append(asyncio.ensure_future(ev))
        await asyncio.sleep(0)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - started
    stop.set()
    await ticking
    gc.callbacks.remove(on_gc)
    asyncio.events.Handle._run = real_run  # type: ignore[method-assign]
    gc.collect()
    rss_after = _rss_bytes()
    errors = [r for r in results if isinstance(r, BaseException)]

    by_token: dict[str, list[Any]] = {}
    for c in fake.calls[n_calls:]:
        tok = c.params.get("webhook_token")
        if tok:
            by_token.setdefault(tok, []).append(c)
    outcomes = Counter(classify(by_token.get(i.token, [])) for i in interactions)
    replies = sum(1 for c in fake.calls[n_calls:] if c.kind == "channel")
    lags_ms = sorted(x * 1000 for x in lags) or [0.0]
    return {
        "checks": checks,
        "users": users,
        "chatter": chatter,
        "seconds": round(elapsed, 2),
        "outcomes": dict(outcomes),
        "exceptions": [repr(e) for e in errors[:5]],
        "autoreplies": replies,
        "lag_ms": {
            "max": round(lags_ms[-1], 1),
            "p99": round(lags_ms[int(0.99 * (len(lags_ms) - 1))], 1),
            "p50": round(statistics.median(lags_ms), 1),
            "samples": len(lags_ms),
        },
        "longest_callback_cpu_ms": round(longest[0] * 1000, 1),
        "longest_callback": longest[1],
        "longest_callback_cpu_ms_without_gc": round(longest[2] * 1000, 1),
        "longest_callback_without_gc": longest[3],
        "gc_full_collections_ms": [round(x, 1) for x in gc_pauses],
        "rss_mb": {
            "before": round(rss_before / 2**20, 1),
            "peak_over_before": round((max(rss or [rss_before]) - rss_before) / 2**20, 1),
            "after_over_before": round((rss_after - rss_before) / 2**20, 1),
        },
        "live_views": len(bot.live_views),  # answer views whose buttons still work (capped by LiveViews)
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}",
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with load_bot(Path(tmp)) as (bot, fake):
            if args.gc_freeze:
                gc.collect()
                gc.freeze()  # what a long-running bot can do after start-up: older objects leave the GC's scans
            rounds = []
            for r in range(args.rounds):
                # The fake Discord keeps every call and message it saw: drop them, they are not the bot's memory.
                fake.calls.clear()
                fake.messages.clear()
                fake.channel_of.clear()
                fake.interaction_messages.clear()
                fake._interaction_channels.clear()
                # New members each round (the cooldown of the last round's members would answer most of them).
                rounds.append(await burst(bot, fake, checks=args.checks, users=args.users, chatter=args.chatter,
                                          seed=args.seed + r, user_base=r * 10_000))
            result = rounds[0] if len(rounds) == 1 else {**rounds[-1], "rounds": [
                {k: x[k] for k in ("seconds", "lag_ms", "longest_callback_cpu_ms", "rss_mb", "outcomes", "live_views")} for x in rounds]}
            result["gc_freeze"] = args.gc_freeze
            return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checks", type=int, default=1000)
    p.add_argument("--users", type=int, default=250, help="distinct members sending them (cooldown: 5 per minute)")
    p.add_argument("--chatter", type=int, default=1000, help="messages in an auto-reply channel at the same time")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1, help="bursts one after another in the same bot (memory growth)")
    p.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after start-up (see docs/reliability.md)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>12}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
