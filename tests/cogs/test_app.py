"""The bot itself: setup, commands and their permissions, the tree's bot filter and error ladder, sync and run."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import discord
import pytest
from discord import app_commands

import bot.app as app
from bot.app import CrosscheckBot, is_moderator, run_bot, sync_commands
from bot.config import Settings
from storage.corpus import Corpus
from tests.cogs.conftest import (
    APP_ID,
    BOT_ID,
    GUILD_A,
    MATCHING_CLAIM,
    MEMBER,
    MOD,
    OTHER_BOT,
    SEED_STORY,
    FakeDiscord,
    user_payload,
)

MODERATOR_ROOTS = ("corpus", "autoreply", "settings")


async def test_setup_opens_seeded_corpus_loads_cogs_and_never_syncs(bot: CrosscheckBot):
    assert set(bot.cogs) == {"Checking", "CorpusAdmin", "AutoReply"}
    names = {c.name for c in bot.tree.get_commands()}
    assert names == {"check", "story", "outlet", "corpus", "autoreply", "settings", "Check claim"}
    assert bot.corpus.reader.story(SEED_STORY, None) is not None  # a new database is seeded
    # Setup talks to Discord not at all: in particular no command sync.
    assert bot.calls_during_setup == []
    assert bot.intents.message_content and bot.intents.guilds and not bot.intents.members
    assert bot.allowed_mentions.to_dict() == {"parse": []}


async def test_every_moderator_command_checks_in_code_and_hides_by_default(bot: CrosscheckBot):
    roots = [c for c in bot.tree.get_commands() if c.name in MODERATOR_ROOTS]
    assert len(roots) == 3
    leaves = []
    for root in roots:
        payload = root.to_dict(bot.tree)
        # The hint Discord shows: Manage Server by default (32), not in DMs.
        assert payload["default_member_permissions"] == discord.Permissions(manage_guild=True).value == 32
        assert payload["dm_permission"] is False
        leaves += [root] if isinstance(root, app_commands.Command) else list(root.walk_commands())
    assert len(leaves) >= 20
    for cmd in leaves:
        if isinstance(cmd, app_commands.Command):
            assert is_moderator in cmd.checks, cmd.qualified_name
    # Members' commands are not moderator-gated.
    for name in ("check", "story", "outlet"):
        assert is_moderator not in bot.tree.get_command(name).checks


async def test_interactions_from_bots_are_ignored(bot: CrosscheckBot, fake: FakeDiscord):
    called = []
    bot.check = lambda *a, **k: called.append(a)  # type: ignore[method-assign]
    await fake.run(fake.command("check", {"claim": MATCHING_CLAIM}, user=OTHER_BOT, bot=True))
    assert fake.calls == [] and called == []
    # The same interaction from a person is answered.
    await fake.run(fake.command("story", {"story": SEED_STORY}, user=MEMBER))
    assert fake.calls


async def test_check_runs_in_a_worker_thread_not_on_the_event_loop(bot: CrosscheckBot, fake: FakeDiscord, monkeypatch):
    threads = []
    real = bot.checker.check

    def spy(*a, **k):
        threads.append(threading.current_thread())
        return real(*a, **k)

    monkeypatch.setattr(bot.checker, "check", spy)
    await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    assert threads and threads[0] is not threading.main_thread()


async def test_slow_check_defers_then_answers_with_a_follow_up(bot: CrosscheckBot, fake: FakeDiscord):
    bot.defer_after = 0  # every check counts as slow
    last = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    kinds = [c.kind for c in fake.calls]
    assert kinds[0] == "defer"
    assert last.kind == "followup" and last.embeds[0].title.startswith("Russia and the Taliban")


async def test_slow_check_without_match_replaces_public_placeholder_with_private_answer(bot, fake: FakeDiscord):
    bot.defer_after = 0
    await fake.run(fake.command("check", {"claim": "the bicycle lane on the high street was approved", "private": False},
                                user=MEMBER))
    kinds = [c.kind for c in fake.calls]
    assert kinds[0] == "defer" and "delete" in kinds
    answer = fake.last("followup")
    assert answer.ephemeral and "No known story matches" in answer.text


async def test_unexpected_error_gives_an_error_id_and_logs_the_traceback(bot, fake: FakeDiscord, monkeypatch, caplog):
    def boom(*a, **k):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(bot.checker, "check", boom)
    with caplog.at_level(logging.ERROR, logger="crosscheck.bot"):
        answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    assert answer.ephemeral
    ref = answer.content.split("`")[1]
    assert len(ref) == 8 and "database on fire" not in answer.content
    record = next(r for r in caplog.records if ref in r.getMessage())
    assert record.exc_info and "database on fire" in str(record.exc_info[1])
    assert "check" in record.getMessage()


async def test_error_message_ladder_is_specific():
    cd = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 30), 12.4)
    assert "12 seconds" in app.error_message(cd)
    assert "only in a server" in app.error_message(app_commands.NoPrivateMessage())
    assert "Manage Server" in app.error_message(app.NotModerator(None))
    assert "Bot Missing" not in app.error_message(app_commands.BotMissingPermissions(["embed_links"]))
    assert "Embed Links" in app.error_message(app_commands.BotMissingPermissions(["embed_links"]))
    # Text from users is made inert before it is shown back.
    msg = app.error_message(app.UserError("bad id @everyone"))
    assert "@everyone" not in msg and "@\u200beveryone" in msg


async def test_dm_interaction_for_moderator_command_is_refused(bot, fake: FakeDiscord):
    answer = await fake.cmd("settings", {}, user=MOD, guild=None)
    assert answer.ephemeral and "only in a server" in answer.content


async def test_run_and_sync_refuse_without_token(tmp_path: Path):
    s = Settings(_env_file=None, DISCORD_TOKEN="")
    assert run_bot(s, tmp_path / "x.db") == 2
    assert sync_commands(s, tmp_path / "x.db") == 2


def _offline_login(monkeypatch, requests: list):
    """Make ``login`` work without a network: the REST calls land in ``requests``."""

    async def login(self: CrosscheckBot, token: str) -> None:
        await self._async_setup_hook()
        self._connection.application_id = APP_ID
        self._connection.user = discord.ClientUser(state=self._connection, data=user_payload(BOT_ID, bot=True))

        async def request(route, **kwargs):
            requests.append((route.method, route.url, kwargs.get("json")))
            return [
                {"id": str(i + 1), "application_id": str(APP_ID), "name": c["name"], "description": c.get("description", ""),
                 "type": c.get("type", 1), "version": "1", "options": c.get("options", [])}
                for i, c in enumerate(kwargs.get("json") or [])
            ]

        self.http.request = request  # type: ignore[method-assign]
        await self.setup_hook()

    monkeypatch.setattr(CrosscheckBot, "login", login)


def test_sync_registers_commands_globally_or_in_one_server(tmp_path: Path, monkeypatch, capsys):
    requests: list = []
    _offline_login(monkeypatch, requests)
    precompute_on = []
    real_setup = CrosscheckBot.setup_hook

    async def setup_hook(self):
        precompute_on.append(self.settings.precompute)
        await real_setup(self)

    monkeypatch.setattr(CrosscheckBot, "setup_hook", setup_hook)
    s = Settings(_env_file=None, DISCORD_TOKEN="x" * 70)
    assert sync_commands(s, tmp_path / "x.db") == 0
    method, url, body = requests[-1]
    assert method == "PUT" and url.endswith(f"/applications/{APP_ID}/commands")
    names = {c["name"] for c in body}
    assert names == {"check", "story", "outlet", "corpus", "autoreply", "settings", "Check claim"}
    corpus = next(c for c in body if c["name"] == "corpus")
    assert corpus["default_member_permissions"] == 32
    assert "synced 7 command(s)" in capsys.readouterr().out
    # One server: the same commands, instantly, under the guild route.
    assert sync_commands(s, tmp_path / "x.db", guild_id=GUILD_A) == 0
    method, url, body = requests[-1]
    assert url.endswith(f"/applications/{APP_ID}/guilds/{GUILD_A}/commands") and len(body) == 7
    # --clear removes them.
    assert sync_commands(s, tmp_path / "x.db", guild_id=GUILD_A, clear=True) == 0
    assert requests[-1][2] == []
    json.dumps(body)  # what Discord receives is plain JSON
    assert precompute_on == [False] * 3 and s.precompute  # no signals precompute for a sync; the settings unchanged


def test_run_bot_reports_a_rejected_token(tmp_path: Path, monkeypatch):
    async def start(self, token, **kw):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(CrosscheckBot, "start", start)
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), tmp_path / "x.db") == 1


def test_run_bot_explains_the_missing_message_content_intent(tmp_path: Path, monkeypatch, caplog):
    async def start(self, token, **kw):
        raise discord.PrivilegedIntentsRequired(None)

    monkeypatch.setattr(CrosscheckBot, "start", start)
    with caplog.at_level(logging.ERROR, logger="crosscheck.bot"):
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), tmp_path / "x.db") == 1
    assert "Message Content" in caplog.text


def test_run_bot_connects_as_the_configured_shard(tmp_path: Path, monkeypatch, caplog):
    seen = []

    async def start(self, token, **kw):
        seen.append((self.shard_id, self.shard_count))

    monkeypatch.setattr(CrosscheckBot, "start", start)
    token = "x" * 70
    with caplog.at_level(logging.INFO, logger="crosscheck.bot"):
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN=token), tmp_path / "x.db") == 0
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN=token, CROSSCHECK_SHARD_ID="1",
                                CROSSCHECK_SHARD_COUNT="3"), tmp_path / "x.db") == 0
    assert seen == [(None, None), (1, 3)]
    assert "connecting as shard 1 of 3" in caplog.text


@pytest.mark.parametrize("code, says", [
    (4011, "requires this bot to be sharded"),
    (4010, "refused the shard"),
    (4012, "closed the connection (code 4012)"),
])
def test_run_bot_explains_a_closed_gateway(tmp_path: Path, monkeypatch, caplog, code: int, says: str):
    class Socket:  # what discord.ConnectionClosed reads of the websocket
        close_code = code

    async def start(self, token, **kw):
        raise discord.ConnectionClosed(Socket(), shard_id=None, code=code)  # type: ignore[arg-type]

    monkeypatch.setattr(CrosscheckBot, "start", start)
    with caplog.at_level(logging.ERROR, logger="crosscheck.bot"):
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), tmp_path / "x.db") == 1
    assert says in caplog.text


def test_shard_settings_come_in_pairs_and_count_from_zero():
    from pydantic import ValidationError

    assert Settings(_env_file=None, CROSSCHECK_SHARD_ID="0", CROSSCHECK_SHARD_COUNT="1").shard_count == 1
    assert Settings(_env_file=None, CROSSCHECK_SHARD_ID="", CROSSCHECK_SHARD_COUNT="").shard_id is None  # blank: unset
    for bad, says in (({"CROSSCHECK_SHARD_ID": "1"}, "or neither"), ({"CROSSCHECK_SHARD_COUNT": "2"}, "or neither"),
                      ({"CROSSCHECK_SHARD_ID": "2", "CROSSCHECK_SHARD_COUNT": "2"}, "numbered from 0"),
                      ({"CROSSCHECK_SHARD_ID": "-1", "CROSSCHECK_SHARD_COUNT": "2"}, "greater than or equal to 0"),
                      ({"CROSSCHECK_SHARD_ID": "0", "CROSSCHECK_SHARD_COUNT": "0"}, "greater than or equal to 1")):
        with pytest.raises(ValidationError, match=says):
            Settings(_env_file=None, **bad)


def _offline(monkeypatch, connect) -> None:
    """``run_bot`` without Discord: logging in runs the setup hooks, and ``connect`` is the test's own (the bot
    closes when it returns, as when the gateway closes)."""

    async def login(self, token):
        await self._async_setup_hook()
        await self.setup_hook()

    monkeypatch.setattr(CrosscheckBot, "login", login)
    monkeypatch.setattr(CrosscheckBot, "connect", connect)


async def _until(cond, seconds: float = 30.0, step: float = 0.05) -> bool:
    """Look at ``cond()`` every ``step`` seconds until it holds or ``seconds`` have passed; whether it held."""
    for _ in range(max(1, int(seconds / step))):
        if cond():
            return True
        await asyncio.sleep(step)
    return bool(cond())


def _pass_done(bot: CrosscheckBot) -> bool:
    """A signals pass was started and has ended."""
    return bot._precompute is not None and bot._precompute.poll() is not None


def test_run_bot_starts_sets_up_and_closes_cleanly(tmp_path: Path, monkeypatch):
    """``run_bot`` logs in (setup_hook: corpus, cogs), connects, and closes the database when the bot stops."""
    seen = {}

    async def connect(self, reconnect=True):
        seen["cogs"] = set(self.cogs)
        seen["corpus"] = self.corpus
        # The gateway closed (e.g. SIGTERM -> close()): start() returns.

    closed = []
    real_close = Corpus.close

    async def close(self):
        closed.append(self)
        await real_close(self)

    _offline(monkeypatch, connect)
    monkeypatch.setattr(Corpus, "close", close)
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), tmp_path / "x.db") == 0
    assert seen["cogs"] == {"Checking", "CorpusAdmin", "AutoReply"}
    assert closed == [seen["corpus"]]


def test_run_bot_starts_before_the_integrity_check_and_stops_if_it_fails(tmp_path: Path, monkeypatch, caplog):
    """The check of an existing database runs beside the bot (it reads the whole file: seconds at 1M claims); the
    bot is set up and connecting meanwhile, and a damaged file stops it with exit code 1 and what to do."""
    from bot.cli import prepare
    from tests.reliability.test_durability import _damage, _filled

    path = tmp_path / "x.db"
    prepare(path)  # created and seeded
    _filled(path)
    _damage(path)
    seen = {}

    async def connect(self, reconnect=True):
        seen["cogs"] = set(self.cogs)  # set up before the check has answered
        await asyncio.wait_for(self._integrity_watch, 30)  # ... which then closes the bot

    _offline(monkeypatch, connect)
    with caplog.at_level(logging.ERROR):
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), path) == 1
    assert seen["cogs"] == {"Checking", "CorpusAdmin", "AutoReply"}
    assert "crosscheck restore PATH" in caplog.text and "The bot stops" in caplog.text


def test_run_bot_keeps_signals_in_a_child_after_the_check_and_stops_it_on_close(tmp_path: Path, monkeypatch):
    """One pass after the integrity check; another only once the corpus changed (here: a write from another
    program, as a command-line import beside the bot); none left running after the bot."""
    import itertools

    from bot.cli import open_corpus, prepare
    from bot.models import Article, CorpusFile
    from storage.corpus import Actor

    path = tmp_path / "x.db"
    prepare(path)  # an existing, seeded database: its integrity check runs beside the start
    seen = {}
    ids = itertools.count()

    async def watch(self, children: set, seconds: float, until: int) -> set:
        def enough() -> bool:
            if self._precompute is not None:
                children.add(self._precompute)
            return len(children) >= until or (self._integrity_watch.done() and not self.settings.precompute)

        await _until(enough, seconds)
        return children

    async def connect(self, reconnect=True):
        self.precompute_every = 0.05  # the looks at the corpus version, quickly
        children = await watch(self, set(), 30.0, until=1)
        await _until(lambda: all(c.poll() is not None for c in children))  # the first pass ends
        seen["unchanged"] = len(await watch(self, children, 0.5, until=2))  # no change, no other pass
        other = await open_corpus(path, check="off", seed=False)  # another program writes
        try:
            article = Article(id=f"from-cli-{next(ids)}", story=SEED_STORY, outlet="kabul-dispatch",
                              text="Officials said the deal was signed.")
            await other.apply(CorpusFile(articles=[article]), Actor(), action="import")
        finally:
            await other.close()
        seen["children"] = await watch(self, children, 30.0, until=2)
        seen["watch"] = self._integrity_watch
        # The gateway closed (e.g. SIGTERM -> close()): start() returns, and the bot closes.

    _offline(monkeypatch, connect)
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), path) == 0
    children = seen["children"]
    assert seen["unchanged"] == 1
    assert len(children) == 2  # the first pass after the check, and one after the change
    for child in children:
        assert child.args[1:3] == ["-m", "bot.precompute"] and "--nice" in child.args
        assert child.poll() is not None  # finished or stopped: never left running after the bot
    assert seen["watch"].done()  # the passes stop with the bot
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70, CROSSCHECK_PRECOMPUTE=False), path) == 0
    assert seen["children"] == set()


def test_a_failed_look_at_the_corpus_version_does_not_end_the_watch(tmp_path: Path, monkeypatch, caplog):
    import sqlite3

    from bot.cli import prepare

    path = tmp_path / "x.db"
    prepare(path)
    seen = {}

    async def connect(self, reconnect=True):
        self.precompute_every = 0.05
        await _until(lambda: _pass_done(self))  # the first pass, after the check
        first, real = self._precompute, self.corpus.reader.version
        calls = []

        def version():
            calls.append(1)
            if len(calls) == 1:
                raise sqlite3.OperationalError("disk I/O error")
            return real() + 1  # then: the corpus moved

        monkeypatch.setattr(self.corpus.reader, "version", version)
        await _until(lambda: self._precompute is not first, 10.0)
        seen["second"] = self._precompute is not first

    _offline(monkeypatch, connect)
    with caplog.at_level(logging.WARNING, logger="crosscheck.bot"):
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), path) == 0
    assert seen == {"second": True}
    assert "could not read the corpus version (disk I/O error)" in caplog.text


def test_an_import_starts_a_signals_pass_while_the_periodic_ones_wait(tmp_path: Path, monkeypatch):
    """Regression: keep_signals() (after a /corpus import) waited for the task that runs the periodic passes to end,
    which it never does while the bot runs."""
    from bot.cli import prepare

    path = tmp_path / "x.db"
    prepare(path)
    seen = {}

    async def connect(self, reconnect=True):
        self.precompute_every = 3600.0  # no periodic pass during the test
        await _until(lambda: _pass_done(self))
        first = self._precompute
        assert first is not None and first.returncode == 0 and not self._integrity_watch.done()
        self.keep_signals()  # as the import command does
        seen["second"] = self._precompute is not first and self._precompute is not None

    _offline(monkeypatch, connect)
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), path) == 0
    assert seen["second"]


def test_an_article_written_while_the_bot_runs_gets_its_signals_kept(tmp_path: Path, monkeypatch):
    """End to end, with the real child process: a moderator's new article, then keep_signals() (as article-add
    calls it), and its kept copy is in the database, with the key a report checks."""
    from bot.cli import prepare
    from bot.models import Article, CorpusFile
    from bot.signals import signals_key
    from storage.corpus import Actor

    path = tmp_path / "x.db"
    prepare(path)
    seen = {}

    async def connect(self, reconnect=True):
        self.precompute_every = 3600.0
        await _until(lambda: _pass_done(self))  # the first pass, after the integrity check
        article = Article(id="new-one", story=SEED_STORY, outlet="kabul-dispatch", title="A new report",
                          text="Officials said on Monday that the agreement was signed in Moscow. " * 5)
        await self.corpus.apply(CorpusFile(articles=[article]), Actor(GUILD_A, 7, "mod"), action="article-add")
        assert self.corpus.reader.kept_signals(["new-one"]) == {}
        self.keep_signals()
        await _until(lambda: _pass_done(self) and self.corpus.reader.kept_signals(["new-one"]))
        stored = self.corpus.reader.article("new-one", GUILD_A)
        seen["kept"] = self.corpus.reader.kept_signals(["new-one"]).get("new-one", ("", ""))[0] == signals_key(stored)

    _offline(monkeypatch, connect)
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), path) == 0
    assert seen == {"kept": True}


def test_a_pass_asked_for_while_one_runs_starts_once_after_it(tmp_path: Path, monkeypatch):
    """A running pass may have listed its articles before a moderator's new one was written: one more pass follows
    it, however many are asked for meanwhile, and none runs beside it."""
    import subprocess
    import sys

    from bot import app as app_module
    from bot.cli import prepare

    path = tmp_path / "x.db"
    prepare(path)
    started: list[subprocess.Popen] = []

    def run_in_background(db):  # a pass that lasts until the test ends it
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        started.append(child)
        return child

    monkeypatch.setattr(app_module, "run_in_background", run_in_background)
    monkeypatch.setattr(app_module, "PRECOMPUTE_POLL", 0.02)
    seen = {}

    async def connect(self, reconnect=True):
        self.precompute_every = 3600.0  # no periodic pass during the test
        assert await _until(lambda: len(started) == 1, 10.0, 0.02)  # the first pass, after the integrity check
        self.keep_signals()  # as /corpus article-add does, twice, while the first pass runs
        self.keep_signals()
        await asyncio.sleep(0.1)
        seen["beside"] = len(started)
        started[0].stdin.close()  # the first pass ends
        seen["after"] = await _until(lambda: len(started) == 2, 10.0, 0.02)
        await asyncio.sleep(0.2)
        seen["count"] = len(started)

    _offline(monkeypatch, connect)
    assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), path) == 0
    assert seen == {"beside": 1, "after": True, "count": 2}
    assert all(child.poll() is not None for child in started)  # the second was stopped with the bot


@pytest.mark.parametrize("perm", ["manage_guild", "administrator"])
async def test_is_moderator_accepts_manage_server_or_admin(bot, fake: FakeDiscord, perm):
    i = fake.command("settings", {}, user=MEMBER, perms=discord.Permissions(**{perm: True}))
    assert await is_moderator(i) is True


def test_run_bot_without_network_exits_1_with_a_message(tmp_path: Path, monkeypatch, caplog):
    async def start(self, token, **kw):
        raise OSError("Name or service not known")

    monkeypatch.setattr(CrosscheckBot, "start", start)
    with caplog.at_level(logging.ERROR, logger="crosscheck.bot"):
        assert run_bot(Settings(_env_file=None, DISCORD_TOKEN="x" * 70), tmp_path / "x.db") == 1
    assert "cannot reach Discord" in caplog.text
