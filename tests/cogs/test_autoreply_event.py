"""The auto-reply decision event: dispatched once per handled message, with the reply or None."""

from __future__ import annotations

import pytest


@pytest.mark.asyncio
async def test_decision_event_is_dispatched(monkeypatch) -> None:
    from cogs.autoreply import AutoReply

    seen = []

    class FakeBot:
        def dispatch(self, name, *args):
            seen.append((name, args))

    cog = AutoReply.__new__(AutoReply)
    cog.bot = FakeBot()

    async def decide(message):
        return None if message == "quiet" else "reply"

    monkeypatch.setattr(cog, "_handle", decide)
    assert await cog.handle("quiet") is None
    assert await cog.handle("loud") == "reply"
    assert seen == [("autoreply_decision", ("quiet", None)), ("autoreply_decision", ("loud", "reply"))]
