# Flash log benchmark, run inside the MicroPython unix port by spasmtrack/bench/flashlog.py.
# Prints one JSON line with the measured figures.
import gc
import json
import sys
import time

from core import records as R
from flash_storage import RamFlash
from core.flashlog import FlashLog

SECTOR = 4096
MB_BLOCKS = 256            # 1 MB of 4 KB sectors (2 of them are the ack journal)


class CountingFlash:
    """Stores nothing: isolates the log's own CPU cost from the simulator's."""

    def __init__(self, bs, count):
        self.bs = bs
        self.count = count

    def readblocks(self, block, buf, offset=0):
        for i in range(len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, block, buf, offset=None):
        pass

    def ioctl(self, op, arg):
        return {4: self.count, 5: self.bs}.get(op, 0)


def heavy_day(log, day, ev, sm, acked):
    """One day of a heavy patient: a daily charge reboot (BOOT + TIME_ANCHOR), 300 events,
    288 five-minute summaries, 4 dose marks and 2 felt-spasm marks."""
    log.append(R.TYPE_BOOT, (day, R.RESET_POWER_ON, 0x0100, 2, 0x1234))
    log.append(R.TYPE_TIME_ANCHOR, (day, 1000, 1795000000 + day * 86400, 4, R.SOURCE_HOST_CTS))
    e = 0
    for w in range(288):
        sm[R.SM_BOOT] = day
        sm[R.SM_START_MS] = w * 300000
        for k in range(2 if w % 12 < 6 else 0):      # 300 events a day, in bursts
            if e < 300:
                ev[R.EV_BOOT] = day
                ev[R.EV_ONSET_MS] = w * 300000 + k * 60000
                log.append(R.TYPE_EVENT, ev)
                e += 1
        if w % 72 == 0:
            log.append(R.TYPE_MARK, (day, w * 300000 + 1, R.MARK_DOSE_TAKEN))
        if w % 144 == 7:
            log.append(R.TYPE_MARK, (day, w * 300000 + 2, R.MARK_FELT_SPASM))
        log.append(R.TYPE_SUMMARY, sm)
    while e < 300:
        ev[R.EV_BOOT] = day
        ev[R.EV_ONSET_MS] = 86000000 + e
        log.append(R.TYPE_EVENT, ev)
        e += 1
    if acked:
        log.ack(log.last_seq)


def oldest_day(log, buf):
    for n in log.read_from(0, buf):
        t, seq, v, _ = R.unpack_from(buf, 0, n)
        if t in (R.TYPE_EVENT, R.TYPE_SUMMARY, R.TYPE_BOOT, R.TYPE_MARK, R.TYPE_TIME_ANCHOR):
            return v[0], (v[1] if t != R.TYPE_BOOT else 0)
    return -1, 0


def capacity(days_to_run):
    fl = RamFlash(SECTOR, MB_BLOCKS)
    log = FlashLog(fl)
    ev = [0, 0, 1500, R.KIND_SPASM, 0, 0, 25000, 9000, 15000, 0, 400, 150, 0xFFFF, 2]
    sm = [0, 0, 300, 1, 0, 15, 0, 2950, 50, 0, 0, 1, 420, 80, 2]
    first_loss_day = 0
    day_records = 0
    for day in range(1, days_to_run + 1):
        before_seq = log.last_seq
        heavy_day(log, day, ev, sm, False)
        if day == 1:
            day_records = log.last_seq - before_seq
        if log.losses and not first_loss_day:
            first_loss_day = day
    buf = bytearray(R.MAX_FRAME)
    od, oms = oldest_day(log, buf)
    retained = days_to_run - od + 1 - oms / 86400000     # whole days still in the log
    # bytes of flash the log consumed per day, from the write position (one full ring)
    t0 = time.ticks_us()
    log2 = FlashLog(fl)                                   # recovery scan of a full 1 MB log
    open_us = time.ticks_diff(time.ticks_us(), t0)
    return {
        "days_before_first_rotation_loss": first_loss_day - 1 if first_loss_day else days_to_run,
        "days_retained_steady_state": retained,
        "records_per_day": day_records,
        "rotations": log.rotations,
        "loss_records": log.losses,
        "open_full_log_ms": open_us / 1000,
        "reopen_last_seq_ok": log2.last_seq == log.last_seq,
    }


def sizes():
    fl = RamFlash(SECTOR, 8)
    log = FlashLog(fl)
    out = {}
    for t, v in ((R.TYPE_EVENT, [1, 2, 3, 1, 0, 0, 4, 5, 6, 0, 7, 8, 9, 2]),
                 (R.TYPE_SUMMARY, [1, 2, 300, 1, 0, 15, 0, 2950, 50, 0, 0, 1, 420, 80, 2]),
                 (R.TYPE_MARK, (1, 2, 1)), (R.TYPE_TIME_ANCHOR, (1, 2, 3, 0, 1)),
                 (R.TYPE_BOOT, (1, 1, 1, 1, 1))):
        wp = log._wp
        log.append(t, v)
        out[R.TYPE_NAMES[t]] = log._wp - wp            # flash bytes consumed by the append
    return out


def append_cost(n):
    res = {}
    ev = [1, 0, 1500, R.KIND_SPASM, 0, 0, 25000, 9000, 15000, 0, 400, 150, 0xFFFF, 2]
    for name, st in (("log_only", CountingFlash(SECTOR, 256)), ("with_sim_flash", RamFlash(SECTOR, 64))):
        log = FlashLog(st)
        gc.collect()
        best = None
        for rep in range(3):
            t0 = time.ticks_us()
            for i in range(n):
                ev[R.EV_ONSET_MS] = i
                log.append(R.TYPE_EVENT, ev)
            dt = time.ticks_diff(time.ticks_us(), t0) / n
            best = dt if best is None or dt < best else best
        res[name] = best
    return res


def main(days):
    out = {"sizes": sizes(), "append_us": append_cost(2000), "capacity": capacity(days)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 45)
