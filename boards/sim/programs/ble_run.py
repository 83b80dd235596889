"""MicroPython side of the demo's BLE sync (runs on the unix port, NOT on CPython).

After the device stage the sim board's flash folder (cwd) holds the flash log
(``spasmlog.bin``, the NOR image the firmware wrote). This program is the board coming
back in range: the real flash log and the real BLE peripheral (firmware/device/ble_peripheral.py)
on the sim board's ``bluetooth`` module, i.e. the virtual radio. The host's bleak code
then pairs, sets the clock (the peripheral logs a TIME_ANCHOR), reads the records through
the record-access control point and acknowledges them.

Usage (cwd = flash folder): micropython ble_run.py BOOT MS_NOW RUN_S
The device clock: (BOOT, MS_NOW + ms since this program started); MS_NOW is the device's
ms since boot at launch (it kept counting after the simulated signal ended).
The patient has opened the pairing window (long press): the passkey the device shows is
printed as ``PASSKEY nnnnnn`` for the host to type.
Prints ``READY ...`` once advertising and ``DONE last_seq acked_seq`` when it stops: when
a line arrives on stdin (the demo has finished its sync) or after RUN_S seconds.
"""
import sys
import time

from device import ble_peripheral as BP
from flash_storage import FileFlash
from core.flashlog import FlashLog

_T0 = time.ticks_ms()


def main(boot, ms_now, run_s):
    log = FlashLog(FileFlash("spasmlog.bin", 4096, 256))

    def clock():
        return boot, ms_now + time.ticks_diff(time.ticks_ms(), _T0)

    import bluetooth
    ble = bluetooth.BLE()
    def show(pk):
        print("PASSKEY %06d" % pk)

    per = BP.BlePeripheral(ble, log, clock, name="ST-demo", bonds=BP.BondStore("bonds.bin"),
                           status=lambda: (80, 0, 1000, 1), show_passkey=show)
    per.open_pairing_window()
    per.advertise()
    import select
    stop = select.poll()
    stop.register(sys.stdin, select.POLLIN)
    print("READY last_seq=%d acked=%d" % (log.last_seq, log.acked_seq))
    while True:
        if per.poll(16) == 0:
            time.sleep_ms(2)
        if stop.poll(0):
            break
        if time.ticks_diff(time.ticks_ms(), _T0) > run_s * 1000:
            break
    print("DONE %d %d" % (log.last_seq, log.acked_seq))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
