"""Fixtures for the end-to-end suite: the fake Discord, the bot running against it, and the failure traps.

Every e2e test fails if, by its end,
- the fake recorded a violation (a payload Discord would reject, a ping, a late or second interaction response, an
  unknown route...: ``FakeDiscord.violations``; a test that provokes one on purpose takes it with ``take_violations``);
- a handler raised: ``Client.on_error`` ran, ``CommandTree.on_error`` got an error other than a refusal or a user
  error, or anything logged at ERROR (discord.py logs view/modal/task failures; the app logs unexpected errors);
- a connection left 127.0.0.1 (sockets to any other address are refused);
- a task or heartbeat thread of the bot or the fake outlived the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from tests.e2e.fake_discord import FakeDiscord

#: discord.py waits this long after the last GUILD_CREATE before READY fires (2 s by default).
GUILD_READY_TIMEOUT = 0.05

#: Tasks discord.py starts to run handlers; ``RunningBot.settle`` waits for them.
_HANDLER_TASK_PREFIXES = ("discord.py: ", "CommandTree-invoker", "discord-ui-view-dispatch", "discord-ui-modal-dispatch")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# -- loopback only ------------------------------------------------------------------------------------------------


def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX and friends
        return True
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection that would leave the machine."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise ConnectionRefusedError(f"e2e tests may only connect to 127.0.0.1, not {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _loopback(address):
            raise ConnectionRefusedError(f"e2e tests may only connect to 127.0.0.1, not {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


# -- nothing left running ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def nothing_left_running() -> AsyncIterator[None]:
    """After each test (and every other fixture's teardown): no task, heartbeat thread or socket of the bot or the
    fake is still alive."""
    from discord.gateway import KeepAliveHandler

    yield
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    threads = [t for t in threading.enumerate() if isinstance(t, KeepAliveHandler)]
    for t in threads:
        t.join(timeout=1.0)
    threads = [t for t in threads if t.is_alive()]
    if tasks or threads:
        for t in tasks:
            t.cancel()
        pytest.fail(f"left running after the test: tasks {[(t.get_name(), t.get_coro()) for t in tasks]}, threads {threads}",
                    pytrace=False)


# -- handler errors -----------------------------------------------------------------------------------------------


class HandlerErrors(logging.Handler):
    """Everything that went wrong inside the bot: ERROR log records, ``on_error`` calls, command tree errors."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.events: list[tuple[str, BaseException | None]] = []  # Client.on_error
        self.commands: list[tuple[str, BaseException]] = []  # CommandTree.on_error, unexpected only
        self.refusals: list[tuple[str, BaseException]] = []  # CommandTree.on_error, refusals and user errors
        #: Errors a command may raise on purpose (a refusal, bad input): they become messages, they are not bugs.
        self.expected: tuple[type[BaseException], ...] = (app_commands.CheckFailure, app_commands.CommandOnCooldown)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> list[str]:
        out = []
        for r in self.records:
            exc = ""
            if r.exc_info and r.exc_info[1] is not None:
                exc = f" [{type(r.exc_info[1]).__name__}: {r.exc_info[1]}]"
            elif r.exc_text:
                exc = " [" + r.exc_text.strip().splitlines()[-1] + "]"
            out.append(f"log {r.name} {r.levelname}: {r.getMessage()}{exc}")
        out += [f"on_error({name}): {type(e).__name__}: {e}" for name, e in self.events]
        out += [f"tree.on_error({name}): {type(e).__name__}: {e}" for name, e in self.commands]
        return out

    def clear(self) -> list[str]:
        found = self.describe()
        self.records.clear()
        self.events.clear()
        self.commands.clear()
        return found

    def check(self) -> None:
        problems = self.describe()
        if problems:
            pytest.fail("the bot failed inside a handler:\n  " + "\n  ".join(problems), pytrace=False)

    def classify(self, name: str, error: BaseException) -> None:
        original = getattr(error, "original", None) or error
        if isinstance(error, self.expected) or isinstance(original, self.expected):
            self.refusals.append((name, error))
        else:
            self.commands.append((name, error))

    def watch(self, client: discord.Client) -> None:
        """Hook ``client.on_error`` and its command tree's ``on_error`` (the originals still run)."""
        original_on_error = client.on_error

        async def on_error(event_method: str, /, *args: Any, **kwargs: Any) -> None:
            import sys

            self.events.append((event_method, sys.exc_info()[1]))
            await original_on_error(event_method, *args, **kwargs)

        client.on_error = on_error  # type: ignore[method-assign]
        tree = getattr(client, "tree", None)
        if tree is not None:
            original_tree_error = tree.on_error

            async def tree_on_error(interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
                cmd = interaction.command
                self.classify(cmd.qualified_name if cmd else str((interaction.data or {}).get("name")), error)
                await original_tree_error(interaction, error)

            tree.on_error = tree_on_error  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def handler_errors() -> Any:
    errors = HandlerErrors()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        yield errors
    finally:
        root.removeHandler(errors)
    errors.check()


# -- the fake Discord ---------------------------------------------------------------------------------------------


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A fake Discord on 127.0.0.1; discord.py's REST base and gateway point at it for this test."""
    f = await FakeDiscord().start()
    monkeypatch.setattr(discord.http.Route, "BASE", f.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(f.gateway_url))
    try:
        yield f
    finally:
        await f.close()
    if f.violations:
        pytest.fail("the bot sent what Discord would reject:\n  " + "\n  ".join(str(v) for v in f.violations),
                    pytrace=False)


# -- running a bot ------------------------------------------------------------------------------------------------


class RunningBot:
    """A discord.py client started against the fake, with helpers to wait for it."""

    def __init__(self, client: discord.Client, fake: FakeDiscord, errors: HandlerErrors):
        self.client = client
        self.fake = fake
        self.errors = errors
        self.task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> RunningBot:
        self.errors.watch(self.client)
        self.client._connection.guild_ready_timeout = GUILD_READY_TIMEOUT

        # discord.py sleeps 5 s before every IDENTIFY but the first (Discord's identify rate limit); the fake has none.
        async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
            return None

        self.client.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.client.start(self.fake.token), name="e2e: bot")
        await self.ready(timeout)
        return self

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
        """Wait for a condition on the bot's side (polled every few ms; fails at once if the bot stopped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._check_alive(what)
            result = predicate()
            if result:
                return result
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.005)

    def _check_alive(self, what: str) -> None:
        if self.task is not None and self.task.done():
            exc = self.task.exception() if not self.task.cancelled() else None
            raise AssertionError(f"the bot stopped while waiting for {what}: {exc!r}") from exc

    def _handler_tasks(self) -> list[asyncio.Task[Any]]:
        me = asyncio.current_task()
        return [t for t in asyncio.all_tasks() if t is not me and not t.done()
                and t.get_name().startswith(_HANDLER_TASK_PREFIXES)]

    async def ready(self, timeout: float = 5.0) -> None:
        """Until READY was dispatched for the latest IDENTIFY (after a re-IDENTIFY ``is_ready()`` alone is stale)."""
        def ready() -> bool:
            ws, session = self.client.ws, self.fake.shard_sessions.get(self.client.shard_id or 0)  # its shard's latest
            return (self.client.is_ready() and session is not None and ws is not None
                    and ws.session_id == session.id  # the latest READY was read...
                    and self.client._connection._ready_task is None  # ...and dispatched after the GUILD_CREATEs
                    and all(self.client.get_guild(g) for g in self.fake.guilds if session.holds(g)))  # its shard's

        await self.until(ready, timeout, "READY")

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every event the fake sent has been read and every handler discord.py started has finished
        (so that "the bot did not answer" is a fact, not a race)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            self._check_alive("the bot to settle")
            s = self.fake.session
            ws = self.client.ws
            caught_up = s is None or ws is None or (ws.sequence or 0) >= s.seq
            tasks = self._handler_tasks()
            if tasks:
                quiet = 0
                await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            elif not caught_up:
                quiet = 0
                await asyncio.sleep(0.002)
            else:
                quiet += 1
                await asyncio.sleep(0)
            if loop.time() > deadline:
                raise AssertionError(f"the bot did not settle in {timeout}s: {[t.get_name() for t in tasks]}")

    async def stop(self) -> None:
        crashed = None
        if self.task is not None and self.task.done() and not self.task.cancelled():
            crashed = self.task.exception()  # it stopped by itself before the test ended
        # discord.py's close() does not cancel a READY still waiting for GUILD_CREATEs; it would then dispatch
        # "ready" on a closed client (AttributeError on the MISSING loop).
        ready_task = getattr(self.client._connection, "_ready_task", None)
        if ready_task is not None:
            ready_task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), 5)
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 5)
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - reported below if it crashed by itself
                pass
        if crashed is not None:
            self.errors.events.append(("the bot's connection (Client.start)", crashed))
        # discord.py does not stop its view timers (AnswerView: 10 minutes) or a pending READY delay on close:
        # cancel whatever of the bot's is still there, so nothing outlives the test.
        me = asyncio.current_task()
        leftover = [t for t in asyncio.all_tasks() if t is not me and not t.done() and _belongs_to_bot(t)]
        for t in leftover:
            t.cancel()
        if leftover:
            await asyncio.gather(*leftover, return_exceptions=True)


_BOT_CODE = (f"{os.sep}discord{os.sep}", f"{os.sep}bot{os.sep}", f"{os.sep}cogs{os.sep}")


def _belongs_to_bot(task: asyncio.Task[Any]) -> bool:
    if task.get_name().startswith(("discord", "CommandTree", "e2e:")):
        return True
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    return code is not None and any(part in code.co_filename for part in _BOT_CODE)


@contextlib.asynccontextmanager
async def running(client: discord.Client, fake: FakeDiscord, errors: HandlerErrors) -> AsyncIterator[RunningBot]:
    bot = RunningBot(client, fake, errors)
    try:
        await bot.start()
        yield bot
    finally:
        await bot.stop()
