# spasmtrack: every target sets up what it needs by itself on a fresh machine.
# See README.md for what each target does.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
STAMP  := $(VENV)/.installed
SYSSTAMP := build/.system-packages
REALDATA := $(VENV)/.real-emg
export PATH := $(BIN):$(PATH)
# Firmware modules, the virtual board's hardware layer and the firmware tests,
# in the order the MicroPython unix port searches them.
export MICROPYPATH := $(abspath firmware):$(abspath boards/sim):$(abspath tests/firmware):.frozen

BOARD ?= sim
PORT  ?=

.PHONY: all test demo bench accuracy mpy deploy sim-board setup system clean coeffs

all: test

# Python environment: the MicroPython toolchain, numpy/scipy, pytest, the host tool.
$(STAMP): host/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e 'host[dev]'
	touch $@

# A real surface-EMG recording the daily-life generator's texture is checked against:
# openhdemg 0.1.2 ships one in its wheel. Installed without its dependencies (its GUI
# pins clash with ours); only the data file is read (spasmtrack.synth.dailylife.realemg).
$(REALDATA): $(STAMP)
	$(BIN)/pip install -q --no-deps openhdemg==0.1.2
	touch $@

# Debian packages the tests need (headless Chromium for the report, socat for the
# virtual board's pty). Installed once; skipped when already present.
$(SYSSTAMP):
	@mkdir -p build
	@missing=""; \
	command -v socat >/dev/null || missing="$$missing socat"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	touch $@

setup: $(STAMP) $(REALDATA) $(SYSSTAMP)

test: setup
	$(BIN)/pytest -n 2 -q tests

# A simulated patient through the real chain (H-demo). DAYS=14 for the weekly views.
DAYS ?= 1
demo: setup
	$(BIN)/spasmtrack demo --days $(DAYS) --out build/demo

bench: setup
	$(BIN)/python -m spasmtrack.bench

accuracy: setup
	$(BIN)/python -m spasmtrack.accuracy

# Regenerate the committed filter coefficients of every board from its rate and band.
coeffs: setup
	$(BIN)/python -m spasmtrack.dsp.coeffgen --all

mpy: setup
	$(BIN)/python -m spasmtrack.mpybuild --board $(BOARD)

# Compile for BOARD, copy with mpremote to PORT (a serial port or the sim board's pty),
# write board.json, report the files and free flash, reset. The board is validated first.
deploy: setup
	@test -n "$(PORT)" || { echo "make deploy: set PORT=<serial port or sim-board pty>, e.g. PORT=$(SIM_PTY)"; exit 2; }
	$(BIN)/python -m spasmtrack.mpybuild --board $(BOARD) --deploy $(PORT) $(if $(FROZEN),--frozen)

# The virtual board (unix-port MicroPython + boards/sim hardware layer) on the pty
# $(SIM_PTY): `mpremote connect $(SIM_PTY) resume ...`, `make deploy PORT=$(SIM_PTY)`.
SIM_PTY ?= build/sim-board/tty
SIM_HEAP ?= 384K
sim-board: setup
	$(BIN)/python -m spasmtrack.simboard --pty $(SIM_PTY) --flash build/sim-board/flash --heapsize $(SIM_HEAP)

clean:
	rm -rf build
