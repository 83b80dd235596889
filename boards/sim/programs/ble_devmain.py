# Sim-board program for the BLE tests and the sync bench: the real flash log and the real
# BLE peripheral on the sim board's `bluetooth` (the virtual radio). Run in the flash
# folder (cwd) with:  micropython -c "import ble_devmain; ble_devmain.main()"
# Environment: SPASMTRACK_BLE_BRIDGE (radio bridge), BLEDEV_EVENTS / BLEDEV_SUMMARIES:
# records to append at first boot (a backlog), BLEDEV_TRICKLE_MS: append one EVENT that
# often while running; BLEDEV_RUN_S: stop after that many seconds (default: forever);
# BLEDEV_EXIT_WITH_STDIN=1: stop when stdin reaches EOF (the parent, a test or bench
# holding the other end of the pipe, died: no orphan sim devices); a line "PAIR" on stdin
# is the patient's long press (opens the pairing window). BLEDEV_PAIR_WINDOW_S: a pairing
# window open from boot (the patient pressed at power-on; 0 = closed). The passkey the
# device shows (its LED code) is printed as "BLEDEV PASSKEY nnnnnn".
import os
import time

from core import records as R
from core.flashlog import FlashLog
from flash_storage import FileFlash
from device import ble_peripheral as BP

_T0 = time.ticks_ms()


def _env(name, default):
    v = os.getenv(name)
    return int(v) if v else default


class State:
    boot = 0


def clock():
    return State.boot, time.ticks_diff(time.ticks_ms(), _T0)


def event_values(i, boot):
    return [boot, 1000 * i, 800 + i % 700, 1 + i % 3, i % 2, i % 32, 5000 + i, 2500 + i,
            40000 + i, (i * 7) % 900, i % 3000, i % 2000, 0xFFFF, 1]


def summary_values(i, boot):
    return [boot, 300000 * i, 300, i % 9, i % 4, i % 200, i % 50, 2900, 100, 0,
            i % 5, i % 3, i % 400, 80, 1]


def open_log():
    blocks = _env("BLEDEV_BLOCKS", 256)
    st = FileFlash("spasmlog.bin", 4096, blocks)
    return FlashLog(st)


def main():
    log = open_log()
    State.boot = log.last_boot + 1
    log.append(R.TYPE_BOOT, [State.boot, R.RESET_POWER_ON, 0x0001, 1, 0x1234])
    if State.boot == 1:
        ne = _env("BLEDEV_EVENTS", 0)
        ns = _env("BLEDEV_SUMMARIES", 0)
        k = 0
        for i in range(max(ne, ns)):
            if i < ne:
                log.append(R.TYPE_EVENT, event_values(i, 1))
            if i < ns:
                log.append(R.TYPE_SUMMARY, summary_values(i, 1))
            k += 1
    import bluetooth
    ble = bluetooth.BLE()
    bonds = BP.BondStore("bonds.bin")
    def show(pk):
        print("BLEDEV PASSKEY %06d" % pk)

    per = BP.BlePeripheral(ble, log, clock, name="ST-sim", bonds=bonds,
                           status=lambda: (87, 0, 950, 1), show_passkey=show)
    window = _env("BLEDEV_PAIR_WINDOW_S", 0)
    if window:
        per.open_pairing_window(window * 1000)
        per.advertise()
    print("BLEDEV READY boot=%d last_seq=%d acked=%d" % (State.boot, log.last_seq, log.acked_seq))
    trickle = _env("BLEDEV_TRICKLE_MS", 0)
    run_s = _env("BLEDEV_RUN_S", 0)
    t_trickle = time.ticks_ms()
    t_live = time.ticks_ms()
    from array import array
    env = array("i", [2500 + 300 * (i % 5) for i in range(10)])  # 25..37 uV, 0.01 uV units
    n = 0
    was_reporting = False
    parent = None
    if _env("BLEDEV_EXIT_WITH_STDIN", 0):
        import select
        import sys
        parent = select.poll()
        parent.register(sys.stdin, select.POLLIN)
    t_parent = time.ticks_ms()
    while True:
        if parent is not None and time.ticks_diff(time.ticks_ms(), t_parent) >= 200:
            t_parent = time.ticks_ms()
            for _ in parent.ipoll(0):
                line = sys.stdin.readline()
                if not line:
                    return      # EOF: the parent is gone
                if line.strip() == "PAIR":
                    per.open_pairing_window()
                    per.advertise()
                    print("BLEDEV PAIRING OPEN")
        if was_reporting and not per.reporting:
            print("BLEDEV STATS records=%d notifications=%d full_retries=%d acked=%d" % (
                per.sent_records, per.sent_notifications, per.full_retries, log.acked_seq))
        was_reporting = per.reporting
        if time.ticks_diff(time.ticks_ms(), t_live) >= 100:
            t_live = time.ticks_ms()
            per.push_live(env, 10)
        if per.poll(16) == 0:
            time.sleep_ms(2)
        if trickle and time.ticks_diff(time.ticks_ms(), t_trickle) >= trickle:
            t_trickle = time.ticks_ms()
            log.append(R.TYPE_EVENT, event_values(100000 + n, State.boot))
            n += 1
        if run_s and time.ticks_diff(time.ticks_ms(), _T0) > run_s * 1000:
            break
