# Two commands for a fresh machine: `make run` and `make test`.  Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test console sync bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Crosscheck needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

## Start the bot with DISCORD_TOKEN from .env; without a token, the console mode on the seed corpus.
run: $(STAMP)
	$(BIN)/crosscheck run

## Install and run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

console: $(STAMP)
	$(BIN)/crosscheck console

## Register the slash commands with Discord (after install or upgrade; add GUILD=id to sync one server instantly).
sync: $(STAMP)
	$(BIN)/crosscheck sync $(if $(GUILD),--guild $(GUILD))

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
