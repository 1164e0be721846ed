"""The token never reaches logs, exports or error messages: a canary token through the environment and `.env`,
every `crosscheck` error path (run in subprocesses with broken configs), logging with tracebacks, and a Discord API
that echoes the Authorization header back in its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.config import Redactor, Settings

ROOT = Path(__file__).resolve().parents[2]
#: Shaped like a Discord token (so the pattern redaction applies too) and a plain one (only the exact-secret path).
CANARIES = ["MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GcAnAr.yCANARYcanaryCANARYcanary1234567", "canary-plain-secret-7f3e9a1b2c4d"]
_SETTINGS_VARS = ("DISCORD_TOKEN", "CROSSCHECK_DB", "CROSSCHECK_LOG_LEVEL", "CROSSCHECK_THRESHOLD",
                  "CROSSCHECK_INTEGRITY_CHECK", "CROSSCHECK_OWNER_IDS")


def _leaks(canary: str, text: str) -> bool:
    """The canary, or any long piece of it (a third of a real token is already too much)."""
    parts = [canary] + [p for p in canary.split(".") if len(p) >= 20] + [canary[i : i + 20] for i in range(0, len(canary) - 19, 5)]
    return any(p in text for p in parts)


def crosscheck(args: list[str], cwd: Path, env: dict[str, str], *, api: str | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess (optionally against a fake Discord API at ``api``)."""
    base = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    base.update(env, PYTHONPATH=str(ROOT))
    code = "import sys\n"
    if api:
        code += f"import discord.http\ndiscord.http.Route.BASE = {api!r}\n"
    code += "from bot.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=base, capture_output=True, text=True,
                          timeout=60)


class _EchoingDiscord(BaseHTTPRequestHandler):
    """A hostile API: every error body repeats the Authorization header it was sent."""

    status = 401

    def _answer(self) -> None:
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"message": f"{self.status}: bad request for {auth}", "code": 0, "token": auth}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture(params=[400], ids=["bad-request"])  # an error body that reaches the error path (401 is a LoginFailure)
def echoing_api(request) -> Iterator[str]:
    handler = type("Handler", (_EchoingDiscord,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v10"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=CANARIES, ids=["token-shaped", "plain"])
def canary(request) -> str:
    return request.param


def _check_clean(canary: str, proc: subprocess.CompletedProcess, *files: Path) -> None:
    out = proc.stdout + proc.stderr
    assert not _leaks(canary, out), out
    for f in files:
        if f.exists():
            assert not _leaks(canary, f.read_text(encoding="utf-8", errors="replace")), f


# -- settings and logging ----------------------------------------------------------------------------------------


def test_settings_never_print_the_token(tmp_path: Path, monkeypatch, canary: str) -> None:
    for k in _SETTINGS_VARS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={canary}\n", encoding="utf-8")
    s = Settings()
    assert s.token == canary
    for shown in (repr(s), str(s), s.model_dump_json(), json.dumps(s.model_dump(mode="json")), repr(s.discord_token)):
        assert not _leaks(canary, shown), shown
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={canary}\nCROSSCHECK_THRESHOLD=abc\n", encoding="utf-8")
    with pytest.raises(Exception) as info:  # noqa: PT011 - pydantic's ValidationError
        Settings()
    assert not _leaks(canary, str(info.value))


def _log_everything(canary: str) -> None:
    import logging

    log = logging.getLogger("crosscheck.test")
    log.info("token %s", canary)
    log.info(f"f-string {canary}")
    log.warning("in a dict %r", {"token": canary, "nested": [canary]})
    logging.getLogger("discord.http").debug("POST /api with headers %s", {"Authorization": "Bot " + canary})
    try:
        raise ValueError(f"bad token {canary}")
    except ValueError:
        log.exception("failed")
    try:
        try:
            raise KeyError(canary)
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as exc:
        log.error("chained", exc_info=exc)
        log.error("as arg: %s / %r", exc.__cause__, exc.__cause__)


def test_logs_and_tracebacks_are_redacted(capsys) -> None:
    """setup_logging's handler (the only one) redacts messages, arguments and formatted tracebacks."""
    import logging

    from bot.config import setup_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("discord.gateway").level)
    try:
        for canary in CANARIES:
            capsys.readouterr()
            setup_logging("DEBUG", [canary])
            _log_everything(canary)
            err = capsys.readouterr().err
            assert err.count("[redacted]") >= 8 and "Traceback" in err and "RuntimeError: wrapped" in err, err
            assert not _leaks(canary, err), err
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        logging.getLogger("discord.gateway").setLevel(saved[2])


def test_token_shaped_strings_are_redacted_even_if_not_configured() -> None:
    f = Redactor([])
    assert f.redact(f"leaked {CANARIES[0]} here") == "leaked [redacted] here"
    assert Redactor(["short"]).secrets == []  # too short to redact safely


# -- the CLI ---------------------------------------------------------------------------------------------------------


def _cases(tmp: Path, canary: str) -> list[tuple[str, list[str], dict[str, str], str | None]]:
    corrupt = tmp / "corrupt.db"
    corrupt.write_bytes(b"not a database " * 100)
    bad_json = tmp / "bad.json"
    bad_json.write_text('{"format": "crosscheck-corpus", "stories": [{"id": "' + canary[:5] + '"', encoding="utf-8")
    db = str(tmp / "ok.db")
    return [
        # (name, argv, environment, expected text in the output)
        ("bad threshold in .env", ["stats"], {"ENV_FILE_EXTRA": "CROSSCHECK_THRESHOLD=abc"}, "bad setting"),
        ("bad log level", ["stats"], {"CROSSCHECK_LOG_LEVEL": "bogus"}, "bad setting"),
        ("bad owner ids", ["stats"], {"CROSSCHECK_OWNER_IDS": f"[{canary!r}]"}, "bad setting"),
        ("corrupt database", ["stats"], {"CROSSCHECK_DB": str(corrupt)}, "not a usable Crosscheck database"),
        ("database is a directory", ["stats"], {"CROSSCHECK_DB": str(tmp)}, "cannot open the database"),
        ("database in a missing place", ["stats"], {"CROSSCHECK_DB": "/proc/nonexistent/x.db"}, "cannot open"),
        ("bad import", ["import", str(bad_json)], {"CROSSCHECK_DB": db}, "import failed, nothing changed"),
        ("missing import", ["import", str(tmp / "nope.json")], {"CROSSCHECK_DB": db}, "import failed"),
        ("check with debug logs", ["check", "Moscow inks defense pact with Kabul"],
         {"CROSSCHECK_DB": db, "CROSSCHECK_LOG_LEVEL": "DEBUG"}, "Russia"),
        ("export", ["export", "-"], {"CROSSCHECK_DB": db, "CROSSCHECK_LOG_LEVEL": "DEBUG"}, "crosscheck-corpus"),
        ("run, Discord unreachable", ["run"], {"CROSSCHECK_DB": db, "CROSSCHECK_LOG_LEVEL": "DEBUG"}, "cannot reach Discord"),
    ]


_DRIVER = r"""
import json, os, sys, traceback
import discord.http
discord.http.Route.BASE = "http://127.0.0.1:9/api/v10"  # no network: refuses connections, stands in for discord.com
from bot.cli import main
cases = json.loads(sys.argv[1])
keep = dict(os.environ)
for i, (argv, env, dotenv) in enumerate(cases):
    os.environ.clear()
    os.environ.update(keep)
    os.environ.update(env)
    with open(".env", "w", encoding="utf-8") as fh:
        fh.write(dotenv)
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    except BaseException:
        traceback.print_exc()
        rc = "exception"
    sys.stdout.flush()
    print(f"\n=====CASE {i} rc={rc}", flush=True)
    print(f"\n=====CASE {i}", file=sys.stderr, flush=True)
"""


def test_cli_error_paths_never_show_the_token(tmp_path: Path) -> None:
    """Every case runs `crosscheck` (bot.cli.main) in one subprocess, one after another, with the token in .env.
    (The plain canary: only the exact-secret redaction can catch it.)"""
    canary = CANARIES[1]
    cases = _cases(tmp_path, canary)
    payload = []
    for _name, argv, env, _expect in cases:
        extra = env.pop("ENV_FILE_EXTRA", "")
        payload.append((argv, env, f"DISCORD_TOKEN={canary}\n{extra}\n"))
    exported = tmp_path / "export.json"
    payload.append((["export", str(exported)], {"CROSSCHECK_DB": str(tmp_path / "ok.db")}, f"DISCORD_TOKEN={canary}\n"))
    base = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    proc = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(payload)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**base, "PYTHONPATH": str(ROOT)})
    outs = proc.stdout.split("=====CASE ")
    errs = proc.stderr.split("=====CASE ")
    assert len(outs) == len(payload) + 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    failures = []
    for i, (name, _argv, _env, expect) in enumerate(cases):
        out = outs[i] + errs[i]
        if _leaks(canary, out):
            failures.append(f"{name}: token in output")
        if expect not in out:
            failures.append(f"{name}: expected {expect!r} in {out[-500:]!r}")
        if "Traceback" in out:
            failures.append(f"{name}: traceback: {out[-1500:]}")
    assert "rc=0" in outs[len(payload)], outs[-1]
    _check_clean(canary, proc, exported, tmp_path / "ok.db")
    assert not failures, failures
    if os.environ.get("SHOW_CLI_OUTPUT"):
        for i, (name, *_rest) in enumerate(cases):
            print(f"--- {name}\n{(outs[i] + errs[i])[-300:]}")


def test_run_against_an_api_that_echoes_the_token(tmp_path: Path, echoing_api: str) -> None:
    canary = CANARIES[1]
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={canary}\n", encoding="utf-8")
    proc = crosscheck(["run"], tmp_path, {"CROSSCHECK_DB": str(tmp_path / "x.db"), "CROSSCHECK_LOG_LEVEL": "DEBUG"},
                      api=echoing_api)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[redacted]" in proc.stderr or "rejected the token" in proc.stderr
    _check_clean(canary, proc)


def test_sync_against_an_api_that_echoes_the_token(tmp_path: Path, echoing_api: str, request) -> None:
    canary = CANARIES[1]
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={canary}\n", encoding="utf-8")
    proc = crosscheck(["sync"], tmp_path, {"CROSSCHECK_DB": str(tmp_path / "x.db")}, api=echoing_api)
    assert proc.returncode == 1
    _check_clean(canary, proc)


@pytest.mark.parametrize("where", ["directory", "missing-parent"])
def test_unopenable_database_is_a_clear_storage_error(tmp_path: Path, where: str) -> None:
    """Regression: a database path that is a directory or under a missing, unwritable place raised a bare
    sqlite3.OperationalError/FileNotFoundError (a traceback from every CLI command) instead of StorageError."""
    from storage.db import StorageError, connect

    path = tmp_path if where == "directory" else Path("/proc/nonexistent/crosscheck.db")
    with pytest.raises(StorageError, match="cannot open the database"):
        connect(path)
