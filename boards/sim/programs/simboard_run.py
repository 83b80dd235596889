"""MicroPython side of the demo's sim-board stage (runs on the unix port, NOT on CPython).

The real firmware's ``device.Device`` (flash log, BOOT record, hardware from board.json,
the app pipeline: drivers -> sampler -> DSP chains -> detector -> flash log) runs on the
virtual board's register-level AFE and IMU simulators. Instead of the launcher's
real-time clock pump, virtual time is advanced block by block as fast as the port can
go, and the simulated parts are fed from stdin (the patient simulator, streamed):

    per 100 ms block: EMG int32 nV [100 * NCH, sample-major], lead-off bits u8 [100]
    (ADS1292R LOFF_STAT order: bit0 IN1P, bit1 IN1N, bit2 IN2P, ...), IMU int32 [10 * 6]
    (ax, ay, az in micro-g, gx, gy, gz in milli-dps, sample-major)

Usage: micropython simboard_run.py BOARD_JSON FLASH_FILE SECONDS
Prints ``P <virtual s> <events>`` progress lines and a final ``D <json status>`` line.
"""
import sys
from array import array

import flash_storage
import simhw

BLK = 100          # EMG samples per stream block (100 ms at 1 kHz)
WIN = 4            # blocks kept (the parts read slightly behind/ahead of the block)


class BlockStream:
    def __init__(self, stream, nch, fs, fsi):
        self.s = stream
        self.nch = nch
        self.fs = fs
        self.fsi = fsi
        self.ib = BLK * fsi // fs
        self.emg = array("i", bytes(4 * BLK * nch * WIN))
        self.lo = bytearray(BLK * WIN)
        self.imu = array("i", bytes(4 * self.ib * 6 * WIN))
        self.base = 0      # first block index held
        self.nblk = 0      # blocks held
        self.eof = False
        self.mv_e = memoryview(self.emg)
        self.mv_l = memoryview(self.lo)
        self.mv_i = memoryview(self.imu)

    def _ensure(self, blk):
        while blk >= self.base + self.nblk and not self.eof:
            if self.nblk == WIN:
                e, l, i = BLK * self.nch, BLK, self.ib * 6
                self.mv_e[0:e * (WIN - 1)] = self.mv_e[e:e * WIN]
                self.mv_l[0:l * (WIN - 1)] = self.mv_l[l:l * WIN]
                self.mv_i[0:i * (WIN - 1)] = self.mv_i[i:i * WIN]
                self.base += 1
                self.nblk -= 1
            j = self.nblk
            e, l, i = BLK * self.nch, BLK, self.ib * 6
            ok = self.s.readinto(self.mv_e[j * e:(j + 1) * e], 4 * e)
            ok2 = self.s.readinto(self.mv_l[j * l:(j + 1) * l], l)
            ok3 = self.s.readinto(self.mv_i[j * i:(j + 1) * i], 4 * i)
            if not ok or not ok2 or not ok3:
                self.eof = True
                return False
            self.nblk += 1
        return self.base <= blk < self.base + self.nblk

    def emg_uv(self, t_us, ch):
        k = t_us * self.fs // 1000000
        b = k // BLK
        if not self._ensure(b):
            return 0.0
        return self.emg[((b - self.base) * BLK + k % BLK) * self.nch + ch] * 1e-3

    def leads(self, t_us):
        k = t_us * self.fs // 1000000
        b = k // BLK
        if not self._ensure(b):
            return 0
        return self.lo[(b - self.base) * BLK + k % BLK]

    def imu6(self, t_us):
        k = t_us * self.fsi // 1000000
        b = k // self.ib
        if not self._ensure(b):
            return (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
        j = ((b - self.base) * self.ib + k % self.ib) * 6
        a = self.imu
        return (a[j] * 1e-6, a[j + 1] * 1e-6, a[j + 2] * 1e-6, a[j + 3] * 1e-3, a[j + 4] * 1e-3,
                a[j + 5] * 1e-3)


class EmgSrc:
    def __init__(self, bs):
        self.bs = bs
        self.channels = bs.nch

    def uv(self, t_us, ch):
        return self.bs.emg_uv(t_us, ch)

    def leads_off(self, t_us):
        return self.bs.leads(t_us)


class ImuSrc:
    def __init__(self, bs):
        self.bs = bs

    def imu(self, t_us):
        return self.bs.imu6(t_us)


def main(board_path, flash_path, seconds):
    import json

    with open(board_path) as f:
        board = json.load(f)
    nch = board["emg"].get("channels", 1)
    bs = BlockStream(sys.stdin.buffer, nch, board["emg"]["fs_hz"], board["imu"]["fs_hz"])
    simhw.setup(board, EmgSrc(bs), ImuSrc(bs))
    from device import runtime as device

    storage = flash_storage.FileFlash(flash_path, 4096, board.get("log_blocks", 256))
    dev = device.Device(board, storage, console=False)
    dev.start_hardware()
    app = dev.app
    dev.hw.start_emg(app.sampler.irq)
    steps = int(seconds * 10)
    for i in range(steps):
        simhw.clock.advance(100000)
        app.process()
        if i % 100 == 99:
            print("P %d %d" % ((i + 1) // 10, app.events))
        if bs.eof:
            break
    app.flush()
    st = app.status()
    st["boot"] = dev.boot
    st["last_seq"] = dev.log.last_seq
    print("D " + json.dumps(st))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
