"""/check, "Check claim", /story, /outlet: answers, paging, buttons, feedback, cooldowns, bad input, limits."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import CrosscheckBot
from bot.render import check_embed_limits, inert
from storage.corpus import Actor
from tests.conftest import LEMON_CLAIM, LEMON_TITLE, common_word_corpus
from tests.cogs.conftest import (
    CHAN_A,
    GUILD_A,
    GUILD_B,
    MATCHING_CLAIM,
    MEMBER,
    MEMBER2,
    MOD,
    MOD_B,
    NO_MATCH_CLAIM,
    SEED_STORY,
    FakeClock,
    FakeDiscord,
)

RAW_TITLE = "Russia and the Taliban government sign a military-technical cooperation agreement (2026)"
TITLE = inert(RAW_TITLE)  # as embeds show it: markdown escaped


def assert_within_limits(call) -> None:
    assert check_embed_limits(call.embed_dicts) == []
    for e in call.embeds:  # the real discord.Embed objects, as Discord would count them
        assert len(e) <= 6000
        assert len(e.title or "") <= 256 and len(e.description or "") <= 4096
        assert len(e.fields) <= 25
        assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in e.fields)


# -- /check ---------------------------------------------------------------------------------------------------------


async def test_check_answers_with_the_story_its_disagreements_and_buttons(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    assert answer.kind == "respond" and not answer.ephemeral
    e = answer.embeds[0]
    assert e.title == TITLE
    assert "Match:" in e.description and "disagree" in e.description
    assert any("When was the agreement signed" in f.name for f in e.fields)
    assert [b["label"] for b in answer.buttons] == ["Previous", "Next", "Not relevant"]
    assert answer.button("Previous")["disabled"] is True
    assert_within_limits(answer)


async def test_check_private_option_answers_only_the_caller(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM, "private": True}, user=MEMBER)
    assert answer.ephemeral


async def test_check_follows_the_servers_reply_visibility_setting(bot: CrosscheckBot, fake: FakeDiscord):
    await bot.set_guild_settings(GUILD_A, ephemeral=True)
    assert (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)).ephemeral
    # The caller's explicit choice wins; other servers keep their own setting.
    assert not (await fake.cmd("check", {"claim": MATCHING_CLAIM, "private": False}, user=MEMBER)).ephemeral
    assert not (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER, guild=GUILD_B)).ephemeral


async def test_check_without_match_says_so_privately_with_a_hint(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": NO_MATCH_CLAIM, "private": False}, user=MEMBER)
    assert answer.ephemeral
    assert answer.embeds[0].title == "No known story matches this"
    assert "link to the article" in answer.embeds[0].description
    assert answer.buttons == []


async def test_check_and_check_claim_take_the_thorough_pass(bot: CrosscheckBot, fake: FakeDiscord):
    """/check and "Check claim" take the thorough pass when the quick pass finds nothing (a member asked);
    tests/cogs/test_autoreply.py has the auto-reply side, thorough within a budget of messages a second."""
    await bot.corpus.verified()
    await bot.corpus.apply(common_word_corpus(), Actor())
    answer = await fake.cmd("check", {"claim": LEMON_CLAIM}, user=MEMBER)
    assert answer.embeds[0].title == inert(LEMON_TITLE)
    await fake.run(fake.context_menu(fake.user_message(LEMON_CLAIM), user=MEMBER2))
    assert fake.last().embeds[0].title == inert(LEMON_TITLE)


async def test_check_a_link_to_a_known_article(fake: FakeDiscord):
    url = "https://kabuldispatch.example/news/2026/06/01/afghan-defence-minister-russia-agreement-cooperation-not-alliance"
    answer = await fake.cmd("check", {"claim": url}, user=MEMBER)
    assert answer.embeds[0].title == TITLE and "100/100" in answer.embeds[0].description


@pytest.mark.parametrize(
    ("claim", "expected"),
    [("   ", "The claim is empty"), ("\u200b\u200b", "The claim is empty"), ("a" * 20_000, "20,000 characters")],
)
async def test_check_refuses_bad_input_with_a_clear_private_message(bot, fake: FakeDiscord, claim, expected, monkeypatch):
    ran = []
    monkeypatch.setattr(bot.checker, "check", lambda *a, **k: ran.append(a))
    answer = await fake.cmd("check", {"claim": claim}, user=MEMBER)
    assert answer.ephemeral and expected in answer.content
    assert ran == []  # nothing reached the matcher


async def test_check_in_a_dm_uses_the_global_corpus(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER, guild=None)
    assert answer.embeds[0].title == TITLE


# -- pages and buttons ----------------------------------------------------------------------------------------------


async def test_next_and_previous_page_for_the_caller(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    mid = answer.message_id
    await fake.press(mid, answer.button("Next")["custom_id"], user=MEMBER)
    page2 = fake.last("update")
    assert page2.embeds[0].title.startswith("Sources — ")
    assert "page 2/2" in page2.embeds[0].footer.text
    assert page2.button("Next")["disabled"] is True and page2.button("Previous")["disabled"] is False
    assert_within_limits(page2)
    await fake.press(mid, answer.button("Previous")["custom_id"], user=MEMBER)
    assert fake.last("update").embeds[0].title == TITLE


async def test_only_the_caller_may_press_the_buttons(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    fake.clear()
    await fake.press(answer.message_id, answer.button("Next")["custom_id"], user=MEMBER2)
    refusal = fake.last()
    assert refusal.kind == "respond" and refusal.ephemeral and "Only the person who asked" in refusal.content
    assert fake.sent("update") == []


async def test_buttons_are_disabled_when_the_view_times_out(fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    view = fake.view_of(answer.message_id)
    assert view.timeout and view.timeout <= 14 * 60  # edits need the interaction token (15 minutes)
    await view.on_timeout()
    edit = fake.last("edit")
    assert edit.buttons and all(b["disabled"] for b in edit.buttons)


async def test_live_answers_are_bounded_the_oldest_ends_as_on_a_timeout(bot: CrosscheckBot, fake: FakeDiscord):
    bot.live_views.limit = 2
    answers, views = [], []
    for _ in range(2):
        answers.append(await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER))
        views.append(fake.view_of(answers[-1].message_id))
    assert len(bot.live_views) == 2 and all(v in bot.live_views for v in views)
    fake.clear()
    answers.append(await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER))
    views.append(fake.view_of(answers[-1].message_id))
    await asyncio.gather(*bot.live_views._ending)
    # The oldest answer stopped: out of discord.py's view store (its pages can be freed), its buttons disabled.
    assert views[0].is_finished() and views[0] not in bot.live_views
    assert answers[0].message_id not in fake.state._view_store._synced_message_views
    edit = fake.last("edit")
    assert edit.buttons and all(b["disabled"] for b in edit.buttons)
    assert len(bot.live_views) == 2 and not views[1].is_finished() and not views[2].is_finished()
    # The newer ones still page.
    await fake.press(answers[2].message_id, answers[2].button("Next")["custom_id"], user=MEMBER)
    assert "page 2/2" in fake.last("update").embeds[0].footer.text


async def test_live_answers_expire_by_age_and_forget_views_that_timed_out(bot: CrosscheckBot, fake: FakeDiscord):
    clock = FakeClock()
    bot.live_views.clock = clock
    first = fake.view_of((await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)).message_id)
    second = fake.view_of((await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)).message_id)
    await second.on_timeout()  # discord.py's timeout: the view forgets itself at once
    assert second not in bot.live_views and len(bot.live_views) == 1
    clock.advance(bot.live_views.ttl + 1)
    await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    await asyncio.gather(*bot.live_views._ending)
    assert first.is_finished() and first not in bot.live_views and len(bot.live_views) == 1


async def test_not_relevant_records_feedback_once_per_user(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    button = answer.button("Not relevant")["custom_id"]
    await fake.press(answer.message_id, button, user=MEMBER)
    thanks = fake.last()
    assert thanks.ephemeral and "not relevant" in thanks.content
    await fake.press(answer.message_id, button, user=MEMBER)
    assert "already" in fake.last().content
    rows = await bot.corpus.feedback(GUILD_A)
    assert len(rows) == 1
    assert rows[0]["story_id"] == SEED_STORY and rows[0]["query"] == MATCHING_CLAIM and rows[0]["user_id"] == MEMBER
    assert rows[0]["channel_id"] == CHAN_A
    assert await bot.corpus.feedback(GUILD_B) == []


# -- cooldowns ------------------------------------------------------------------------------------------------------


async def test_check_cooldown_per_user_shared_with_the_context_menu(bot: CrosscheckBot, fake: FakeDiscord):
    cog = bot.get_cog("Checking")
    clock = FakeClock()
    cog.cooldown.clock = clock
    for _ in range(cog.cooldown.rate - 1):
        assert not (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)).content.startswith("Slow down")
    msg = fake.user_message(MATCHING_CLAIM)
    await fake.run(fake.context_menu(msg, user=MEMBER))  # the last token, spent through the menu
    assert fake.last().embeds and fake.last().embeds[0].title == TITLE
    blocked = await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)
    assert blocked.ephemeral and blocked.content.startswith("Slow down") and "<t:" in blocked.content
    await fake.run(fake.context_menu(msg, user=MEMBER))
    assert fake.last().content.startswith("Slow down")
    # Another member is not affected; time passing lifts it.
    assert (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER2)).embeds
    clock.advance(cog.cooldown.per + 1)
    assert (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)).embeds


# -- "Check claim" --------------------------------------------------------------------------------------------------


async def test_check_claim_reads_the_message_and_its_link_previews(fake: FakeDiscord):
    # The text alone names nothing the corpus knows; the link preview Discord added does.
    msg = fake.user_message(
        "wow look at this https://news.example/a/123",
        embeds=[{"type": "link", "title": "Moscow and the Taliban sign a military alliance",
                 "description": "Russia and Afghanistan are now allies, officials in Kabul say."}],
    )
    await fake.run(fake.context_menu(msg, user=MEMBER))
    answer = fake.last()
    assert answer.ephemeral and answer.embeds[0].title == TITLE
    assert "Share in channel" in [b["label"] for b in answer.buttons]
    # Control: the same text without its preview matches nothing.
    alone = await fake.cmd("check", {"claim": msg["content"]}, user=MEMBER2)
    assert alone.embeds[0].title.startswith("No known")


async def test_check_claim_share_posts_publicly_without_pinging(fake: FakeDiscord):
    msg = fake.user_message(MATCHING_CLAIM + " @everyone")
    await fake.run(fake.context_menu(msg, user=MEMBER))
    answer = fake.last()
    await fake.press(answer.message_id, answer.button("Share in channel")["custom_id"], user=MEMBER)
    shared = fake.sent("respond")[-1]
    assert not shared.ephemeral
    assert shared.embeds[0].title == TITLE and f"<@{MEMBER}>" in shared.content
    assert shared.message["allowed_mentions"] == {"parse": []}
    assert shared.button("Not relevant")["custom_id"] == f"cc:nr:{SEED_STORY}"
    assert fake.last("edit").button("Shared")["disabled"] is True


async def test_check_claim_on_a_message_without_text(fake: FakeDiscord):
    msg = fake.user_message("")
    await fake.run(fake.context_menu(msg, user=MEMBER))
    answer = fake.last()
    assert answer.ephemeral and "no text" in answer.content


# -- /story ---------------------------------------------------------------------------------------------------------


async def test_story_autocomplete_and_page(fake: FakeDiscord):
    choices = await fake.autocomplete("story", {"story": "taliban"}, "story", user=MEMBER)
    assert choices == [{"name": RAW_TITLE, "value": SEED_STORY}]
    answer = await fake.cmd("story", {"story": SEED_STORY}, user=MEMBER)
    e = answer.embeds[0]
    assert e.title == TITLE and "Match:" not in (e.description or "")
    assert "Next" in [b["label"] for b in answer.buttons]
    assert_within_limits(answer)


async def test_story_accepts_typed_text_and_refuses_unknown(fake: FakeDiscord):
    assert (await fake.cmd("story", {"story": "taliban"}, user=MEMBER)).embeds[0].title == TITLE
    answer = await fake.cmd("story", {"story": "no-such-story"}, user=MEMBER)
    assert answer.ephemeral and "No story by that name" in answer.content


async def test_hidden_story_is_gone_on_that_server_only(bot: CrosscheckBot, fake: FakeDiscord):
    await fake.cmd("corpus hide", {"story": SEED_STORY}, user=MOD)
    assert await fake.autocomplete("story", {"story": "taliban"}, "story", user=MEMBER) == []
    assert "No story" in (await fake.cmd("story", {"story": SEED_STORY}, user=MEMBER)).content
    assert (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER)).embeds[0].title.startswith("No known")
    assert (await fake.cmd("check", {"claim": MATCHING_CLAIM}, user=MEMBER, guild=GUILD_B)).embeds[0].title == TITLE


# -- /outlet --------------------------------------------------------------------------------------------------------


async def test_outlet_shows_rating_with_basis_and_its_articles_signals(fake: FakeDiscord):
    choices = await fake.autocomplete("outlet", {"outlet": "pulse"}, "outlet", user=MEMBER)
    assert choices == [{"name": "GlobalPulse AI News", "value": "globalpulse-ai-news"}]
    answer = await fake.cmd("outlet", {"outlet": "globalpulse-ai-news"}, user=MEMBER)
    e = answer.embeds[0]
    assert e.title == "GlobalPulse AI News"
    names = [f.name for f in e.fields]
    assert "Factual record" in names and any(n.startswith("Flag:") for n in names)
    await fake.press(answer.message_id, answer.button("Next")["custom_id"], user=MEMBER)
    page2 = fake.last("update")
    assert page2.embeds[0].title.startswith("Articles — ")
    assert page2.embeds[0].fields and any(("−" in f.value or "＋" in f.value) for f in page2.embeds[0].fields)
    assert_within_limits(answer)
    assert_within_limits(page2)


async def test_outlet_rating_is_per_server(fake: FakeDiscord):
    await fake.cmd("corpus rate", {"outlet": "kabul-dispatch", "field": "bias", "value": "ministry aligned",
                                   "basis": "owned by the ministry"}, user=MOD)
    a = await fake.cmd("outlet", {"outlet": "kabul-dispatch"}, user=MEMBER)
    b = await fake.cmd("outlet", {"outlet": "kabul-dispatch"}, user=MEMBER, guild=GUILD_B)
    assert "ministry aligned" in a.text and "owned by the ministry" in a.text
    assert "ministry aligned" not in b.text


async def test_outlet_unknown(fake: FakeDiscord):
    answer = await fake.cmd("outlet", {"outlet": "nope"}, user=MEMBER)
    assert answer.ephemeral and "No outlet" in answer.content


# -- limits on the longest entries ------------------------------------------------------------------------------------


async def test_embeds_stay_within_discords_limits_for_the_longest_entries(bot: CrosscheckBot, fake: FakeDiscord):
    """A story with every field at its maximum length, many questions and positions, outlets with the longest names."""
    from bot.models import (
        Article, CorpusFile, Entity, Evidence, Outlet, OutletRating, Position, Question, RatingEntry, Story,
    )
    from storage.corpus import Actor

    long = lambda n, word="disagreement": (" ".join([word] * n))[:n]  # noqa: E731
    outlets = [
        Outlet(id=f"o{i}", name=("Outlet %d " % i + long(300, "name"))[:300], domains=[f"o{i}.example"],
               rating=OutletRating(**{f: RatingEntry(value=long(200, "v"), basis=long(2000, "basis"))
                                      for f in ("outlet_type", "factual_record", "bias", "news_opinion_separation")}))
        for i in range(12)
    ]
    articles = [
        Article(id=f"a{i}", story="longest", outlet=f"o{i}", title=long(300, "headline"),
                url=f"https://o{i}.example/{'x' * 200}", text=("SHOCKING!!! " * 50 + "they say allegedly " * 400))
        for i in range(12)
    ]
    questions = [
        Question(id=f"q{j}", text=long(299, "question") + "?", positions=[
            Position(id=f"q{j}p{k}", statement=long(500, f"statement{k}"), articles=[f"a{(j + k) % 12}"],
                     evidence=[Evidence(article=f"a{(j + k) % 12}", quote=long(1000, "quote"))])
            for k in range(6)
        ])
        for j in range(30)
    ]
    story = Story(id="longest", title="Zorblax treaty " + long(285, "zorblax"), summary=long(2000, "summary"),
                  entities=[Entity(id="zorblax", name="Zorblax", aliases=["Zorblaxia"])],
                  topic_terms=["treaty", "zorblax"], questions=questions)
    await bot.corpus.apply(CorpusFile(outlets=outlets, stories=[story], articles=articles), Actor(guild_id=GUILD_A),
                           action="test")
    answer = await fake.cmd("story", {"story": "longest"}, user=MEMBER)
    assert answer.embeds[0].title.startswith("Zorblax treaty")
    assert_within_limits(answer)
    await fake.press(answer.message_id, answer.button("Next")["custom_id"], user=MEMBER)
    assert_within_limits(fake.last("update"))
    answer = await fake.cmd("check", {"claim": "Zorblax treaty zorblax summary disagreement"}, user=MEMBER)
    assert answer.embeds[0].title.startswith("Zorblax treaty")
    assert_within_limits(answer)
    answer = await fake.cmd("outlet", {"outlet": "o3"}, user=MEMBER)
    assert_within_limits(answer)
    await fake.press(answer.message_id, answer.button("Next")["custom_id"], user=MEMBER)
    assert_within_limits(fake.last("update"))
    # The compact auto-reply too.
    await fake.cmd("autoreply enable", {}, user=MOD)
    await bot.get_cog("AutoReply").on_message(fake.message_object(fake.user_message(
        "Zorblax treaty zorblax summary disagreement, is this true?")))
    reply = fake.last("channel")
    assert reply.embeds[0].title.startswith("Zorblax treaty")
    assert_within_limits(reply)
    # Server B does not see server A's story at all.
    assert "No story" in (await fake.cmd("story", {"story": "longest"}, user=MOD_B, guild=GUILD_B)).content


async def test_corpus_text_cannot_ping_or_mask_links(bot: CrosscheckBot, fake: FakeDiscord):
    from bot.models import CorpusFile, Story
    from storage.corpus import Actor

    story = Story(id="pingy", title="Qwertyx @everyone <@&123> [click](https://evil.example) qwertyx",
                  summary="Qwertyx summary @here", topic_terms=["qwertyx"])
    await bot.corpus.apply(CorpusFile(stories=[story]), Actor(guild_id=GUILD_A), action="test")
    answer = await fake.cmd("story", {"story": "pingy"}, user=MEMBER)
    text = answer.text
    assert "@everyone" not in text and "<@&123>" not in text and "](https://" not in text
    assert answer.message["allowed_mentions"] == {"parse": []}


async def test_not_relevant_button_ids_fit_discord_for_the_longest_story_ids(bot: CrosscheckBot):
    from bot.models import CorpusFile, Story
    from cogs.common import resolve_story_key, story_key
    from storage.corpus import Actor

    long_id = "s" * 120  # the longest id a story may have
    await bot.corpus.apply(CorpusFile(stories=[Story(id=long_id, title="Long id")]), Actor(guild_id=GUILD_A), action="t")
    key = story_key(long_id)
    assert len(key) <= 100 and key.startswith("cc:nr:#")
    assert await bot.corpus.read(resolve_story_key, bot, key.removeprefix("cc:nr:")) == long_id
    assert story_key(SEED_STORY) == f"cc:nr:{SEED_STORY}"
