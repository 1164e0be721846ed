"""Settings from the environment and ``.env`` (pydantic-settings).  The token is a secret: it never prints."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.matching import DEFAULT_THRESHOLD


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_prefix="")

    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")
    database: Path = Field(default=Path("data/crosscheck.db"), alias="CROSSCHECK_DB")
    log_level: str = Field(default="INFO", alias="CROSSCHECK_LOG_LEVEL")
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0, le=100, alias="CROSSCHECK_THRESHOLD")
    #: Integrity check at start: quick (default), full, or off.
    integrity_check: str = Field(default="quick", alias="CROSSCHECK_INTEGRITY_CHECK")
    #: Discord user ids allowed to run owner-only commands in Discord (the CLI is always the owner).
    owner_ids: list[int] = Field(default_factory=list, alias="CROSSCHECK_OWNER_IDS")
    #: Re-order each check's matches with the optional embedding model (the ``rerank`` extra; see bot/rerank.py).
    rerank: bool = Field(default=False, alias="CROSSCHECK_RERANK")
    #: At start, keep every article's quality signals in the database in a low-priority child process
    #: (bot/precompute.py), so that a story's first report reads them instead of computing them.
    precompute: bool = Field(default=True, alias="CROSSCHECK_PRECOMPUTE")
    #: Run as one shard of several (Discord's gateway sharding): this process connects as shard ``shard_id`` of
    #: ``shard_count`` and gets the servers Discord assigns to it.  Both or neither; every shard may use the same
    #: database file (docs/operators-guide.md).
    shard_id: int | None = Field(default=None, ge=0, alias="CROSSCHECK_SHARD_ID")
    shard_count: int | None = Field(default=None, ge=1, alias="CROSSCHECK_SHARD_COUNT")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in logging.getLevelNamesMapping():
            raise ValueError("unknown log level: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return v

    @field_validator("integrity_check")
    @classmethod
    def _check(cls, v: str) -> str:
        if v not in ("quick", "full", "off"):
            raise ValueError("must be quick, full or off")
        return v

    @field_validator("shard_id", "shard_count", mode="before")
    @classmethod
    def _empty_shard(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _shards(self) -> Settings:
        if (self.shard_id is None) != (self.shard_count is None):
            raise ValueError("set both CROSSCHECK_SHARD_ID and CROSSCHECK_SHARD_COUNT, or neither")
        if self.shard_id is not None and self.shard_count is not None and self.shard_id >= self.shard_count:
            raise ValueError(f"CROSSCHECK_SHARD_ID must be below CROSSCHECK_SHARD_COUNT ({self.shard_count}): shards "
                             f"are numbered from 0")
        return self

    @field_validator("discord_token", mode="before")
    @classmethod
    def _empty_token(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def token(self) -> str | None:
        return self.discord_token.get_secret_value().strip() if self.discord_token else None


class Redactor:
    """Removes secrets (the bot token, anything shaped like a Discord token) from text: every log line (through
    :class:`RedactingFormatter`) and whatever ``crosscheck sync`` prints."""

    TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}")

    def __init__(self, secrets: list[str] | None = None):
        self.secrets = [s for s in (secrets or []) if s and len(s) >= 8]

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "[redacted]")
        return self.TOKEN_RE.sub("[redacted]", text)


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then removes every secret from the whole text (message, arguments, traceback and
    stack).  Working on the output, not the record, it redacts everything printed and changes nothing that other
    handlers (or pytest's log capture) see."""

    def __init__(self, fmt: str, secrets: list[str] | None = None):
        super().__init__(fmt)
        self.redactor = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self.redactor.redact(super().format(record))
        except Exception:  # noqa: BLE001 - a broken format string: print the raw template, redacted
            return self.redactor.redact(f"{record.levelname} {record.name}: {record.msg!s} {record.args!r}")


def setup_logging(level: str = "INFO", secrets: list[str] | None = None) -> None:
    """Log to stderr with every secret redacted (the formatter sits on the handler, so all loggers pass it)."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("discord.gateway").setLevel(max(logging.getLevelName(level), logging.INFO))
