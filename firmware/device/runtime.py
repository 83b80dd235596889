"""Device runtime: boot record, hardware, pipeline, button, watchdog and fault records.

``main.py`` (a two-line file kept as source on the board) calls ``device.main()``.
Boot: open the flash log, log FAULT(watchdog) if the last reset was the watchdog's, log
BOOT (boot number = last boot + 1, reset cause, firmware and detector config versions,
board hash), then configure the parts (a SensorError is logged as a FAULT and the board
retries after ``RETRY_MS``), then run the tasks under asyncio. Every task runs under a
guard: an exception is logged as a FAULT record (exception class code and line) and the
board reboots; the watchdog is fed only while the pipeline makes progress, so a stalled
pipeline ends in a watchdog reset (logged at the next boot).
"""
import asyncio
import gc
import io
import json
import sys
import time
from binascii import crc32

import machine
import micropython
from micropython import const

from core import detconfig, flashlog, fwinfo
from core import records as R

# The device layer (hardware and its drivers, App, button, BLE peripheral) is imported in
# start_hardware/_start_ble, in the order the device starts, and only what the board has:
# imported here with the rest, ``import device.runtime`` alone no longer fits the 96 KB an
# ESP32 leaves free with BLE up (tests/test_firmware_toolchain.py, measured).

WDT_TIMEOUT_MS = const(8000)
HOUSEKEEP_MS = const(1000)
STATUS_EVERY_S = const(10)
RETRY_MS = const(30000)
PAIR_HOLD_MS = const(8000)    # holding the button this long opens the BLE pairing window


def fw_version_u16():
    return fwinfo.FW_VERSION_U16


def board_hash(name):
    return crc32(name.encode()) & 0xFFFF


def _fault_line(exc):
    """Source line of the innermost frame of exc's traceback (0 if unknown)."""
    s = io.StringIO()
    sys.print_exception(exc, s)
    line = 0
    for text in s.getvalue().split("\n"):
        k = text.find(", line ")
        if k >= 0:
            j = k + 7
            e = j
            while e < len(text) and "0" <= text[e] <= "9":
                e += 1
            if e > j:
                line = int(text[j:e])
    return line & 0xFFFF


class Device:
    def __init__(self, board, storage=None, coeffs=None, wdt_ms=WDT_TIMEOUT_MS, console=True):
        self.board = board
        self.console = console
        if storage is None:
            from device import hardware

            storage = hardware.open_storage(board)
        self.log = flashlog.FlashLog(storage)
        prev = self.log.last_boot
        self.boot = (prev + 1) & 0xFFFF or 1
        cause = machine.reset_cause()
        self.reset_cause = cause
        if cause == machine.WDT_RESET:
            self.log.append(R.TYPE_FAULT, [prev, 0, R.FAULT_WATCHDOG, 0, 0])
        self.log.append(R.TYPE_BOOT, [self.boot, cause, fw_version_u16(),
                                      detconfig.CONFIG_VERSION, board_hash(board.get("name", ""))])
        self.coeffs = coeffs
        self.wdt_ms = wdt_ms
        self.hw = None
        self.app = None
        self.button = None
        self.ble = None
        self.faults = 0
        self._mark = [0, 0, 0]
        self.say("boot %d (reset cause %d) board %s" % (self.boot, cause, board.get("name")))

    def say(self, msg):
        if self.console:
            print("spasmtrack:", msg)

    def t_ms(self):
        return self.app.t_ms if self.app is not None else time.ticks_ms()

    def fault(self, exc, where):
        """Log a FAULT record for exc (class-name code, line) and print it."""
        self.faults += 1
        cause = R.FAULT_MEMORY if isinstance(exc, MemoryError) else R.FAULT_EXCEPTION
        code = R.name_code(type(exc).__name__)
        try:
            self.log.append(R.TYPE_FAULT, [self.boot, self.t_ms() & 0xFFFFFFFF, cause, code,
                                           _fault_line(exc)])
        except Exception as e2:  # noqa: the log itself failed; still report the first
            print("spasmtrack: could not log the fault:", e2)
        print("spasmtrack: FAULT in %s:" % where)
        sys.print_exception(exc)

    def start_hardware(self):
        from device import hardware
        from device.app import App

        if self.coeffs is None:
            import coeffs  # the board's own file, when the caller did not pass one

            self.coeffs = coeffs
        self.hw = hw = hardware.Hardware(self.board)
        emg = self.board["emg"]
        self.app = App(self.coeffs, hw.emg, hw.emg_channels, hw.imu, hw.imu_fs, hw.imu_odr,
                       log=self.log, boot=self.boot,
                       mains_hz=-1 if emg.get("mains_hz") is None else emg["mains_hz"])  # -1: auto
        if hw.button is not None:
            from device import button

            self.button = button.Button(hw.button, self._on_mark, time.ticks_ms, time.ticks_diff,
                                        pair_ms=PAIR_HOLD_MS, on_pair=self._open_pairing)

    def _on_mark(self, kind, t_ticks):
        # device time of the press: sample-clock ms now minus how long ago it was
        ago = time.ticks_diff(time.ticks_ms(), t_ticks)
        ms = self.t_ms() - ago
        m = self._mark
        m[0] = self.boot
        m[1] = ms if ms > 0 else 0
        m[2] = kind
        self.log.append(R.TYPE_MARK, m)
        self.say("mark %d at %d ms" % (kind, m[1]))

    def _open_pairing(self):
        """The patient held the button: a host may pair for the next two minutes."""
        if self.ble is not None:
            self.ble.open_pairing_window()
            self.ble.advertise()
            self.say("pairing window open")

    def _show_passkey(self, passkey):
        # the board's only output a patient can read here is the console; a board with an
        # LED would blink the six digits (docs/ble-security.md)
        self.say("pairing passkey %06d" % passkey)

    def clock(self):
        """Device time (boot, ms from the sample count) for the BLE peripheral."""
        return self.boot, self.t_ms()

    def _ble_status(self):
        a = self.app
        s = a.sampler
        return 0xFF, s.dropped + s.missed, a.coverage_pm(), detconfig.CONFIG_VERSION

    def _start_ble(self):
        """The BLE peripheral task, or None when the board has no radio (logged)."""
        try:
            import bluetooth
            from device import ble_peripheral as BP
        except ImportError:  # a board without a radio
            return None
        try:
            per = BP.BlePeripheral(bluetooth.BLE(), self.log, self.clock, name="ST-sensor",
                                   bonds=BP.BondStore("bonds.bin"), status=self._ble_status,
                                   model=self.board.get("name", "?"),
                                   show_passkey=self._show_passkey)
        except OSError as e:
            self.say("BLE unavailable (%r): measuring and logging without it" % (e,))
            return None
        self.ble = per
        self.app.live = per.push_live
        return per.run()

    async def _guard(self, name, coro):
        try:
            await coro
        except Exception as e:  # KeyboardInterrupt/SystemExit pass through
            self.fault(e, name)
            self.reboot()

    def reboot(self):
        try:
            if self.app is not None:
                self.app.flush()
        except Exception:  # noqa: already faulting; the log keeps what it has
            pass
        machine.reset()

    async def _housekeeping(self, wdt):
        last = -1
        n = 0
        while True:
            await asyncio.sleep_ms(HOUSEKEEP_MS)
            blocks = self.app.blocks
            if blocks != last:  # the pipeline is alive: feed
                wdt.feed()
                last = blocks
            if self.app.epoch_over:  # device ms near 2**30 (12.4 days): a new boot
                self.say("12.4 days of device time: restarting into a new boot")
                self.reboot()
            n += 1
            if n % STATUS_EVERY_S == 0:
                gc.collect()
                st = self.app.status()
                st["heap_used"] = gc.mem_alloc()
                st["heap_free"] = gc.mem_free()
                self.say("status %r" % (st,))

    async def run(self):
        wdt = machine.WDT(timeout=self.wdt_ms)
        tasks = [self._guard("app", self.app.run(self.hw.start_emg)),
                 self._guard("housekeeping", self._housekeeping(wdt))]
        if self.button is not None:
            tasks.append(self._guard("button", self.button.run()))
        ble_task = self._start_ble()
        if ble_task is not None:
            tasks.append(self._guard("ble", ble_task))
        board_tasks = getattr(machine, "board_tasks", None)  # the sim board's clock pump
        if board_tasks is not None:
            tasks.extend(board_tasks())
        self.say("running")
        try:
            await asyncio.gather(*tasks)
        finally:
            if self.app is not None:
                self.app.flush()


def load_board(path="board.json"):
    with open(path) as f:
        return json.load(f)


def main(board=None, storage=None):
    aeb = getattr(micropython, "alloc_emergency_exception_buf", None)  # not on the unix port
    if aeb is not None:
        aeb(100)
    if board is None:
        board = load_board()
    dev = Device(board, storage)
    try:
        dev.start_hardware()
    except Exception as e:  # SensorError, BoardError: log, wait, retry by rebooting
        dev.fault(e, "hardware")
        wdt = machine.WDT(timeout=dev.wdt_ms)
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < RETRY_MS:
            wdt.feed()
            time.sleep_ms(500)
        machine.reset()
    try:
        asyncio.run(dev.run())
    except KeyboardInterrupt:
        dev.say("stopped")
        raise
    return dev
