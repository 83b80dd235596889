"""Sampling: interrupt -> preallocated ring of blocks -> whole blocks for the DSP task.

``EmgSampler.irq`` is the per-sample handler (a timer interrupt for ADC parts). It asks
the EMG driver for one sample (``sample_into``) straight into the current ring block, ORs
the driver's status bits into that block's status, measures interval jitter and, when a
block is full, moves on and signals the processing task (``flag.set()``, an
``asyncio.ThreadSafeFlag``). For DRDY parts (ADS1292R) ``drdy_irq`` is a hard interrupt
that only counts conversions and schedules ``read`` (which calls ``irq``): conversions
whose read came too late are filled by holding the last value and counted in ``missed``,
so the sample index always equals the converter's conversion count. Nothing here
allocates (tested under ``heap_lock``).

``next_block`` (task context) copies the oldest complete block into the DSP chain's
input arrays and returns the device time (ms) of its first sample. The time base is the
sample count: a running ms counter advanced by ``block_len * 1000 / fs_hz`` per block with
the exact remainder carried (so it equals index * 1000 // fs_hz without ever forming that
product). When the task falls behind by a whole ring, the interrupt overwrites the oldest
blocks; those samples are counted in ``dropped`` and skipped, and the time of later blocks
still counts them, so overruns never shift time.

31-bit discipline (the ESP32's small ints; anything >= 2**30 is a heap-allocated long int):
every counter the interrupt touches (``irqs``, ``missed``, ``sched_full``, edge and block
counters) wraps at 2**28, and so do ``dropped`` and ``overruns``: read them as differences
modulo ``WRAP``. The ms counter reaches 2**30 after 12.4 days of uptime; App reports that
(``App.epoch_over``) and the runtime restarts into a new boot before it does.

Interrupts: ``drdy_irq`` (hard IRQ) asks ``micropython.schedule`` for the read. When the
schedule queue is full that raises RuntimeError: the handler catches it, counts it in
``sched_full`` and leaves ``_sched`` clear, so the next edge tries again; the conversions in
between are filled by ``_hold`` and counted in ``missed``. Sampling never stops.

Jitter: |interval between interrupts - nominal period| in microseconds, maximum since
``take_jitter()`` (reported in each summary and the status).

``ImuStage`` drains the IMU's hardware FIFO (task context, once per EMG block) into a
staging area and hands the IMU chain exactly the number of IMU samples that belong to
the block (``fs_imu * block_len / fs_emg``), so both streams share the EMG sample clock.
Missing samples (FIFO overflow, bus error, clock drift) are filled by holding the last
value and counted in ``padded``; surplus beyond a small backlog is dropped and counted in
``trimmed``. A sensor ODR that differs from the chain's IMU rate (LSM6DSO: 104 Hz for a
100 Hz chain) is resampled by linear interpolation.
"""
import time
from array import array

import micropython
from micropython import const

from core import dsp

_WRAP = const(1 << 28)  # counters wrap here (small ints on every port)
WRAP = _WRAP
_CHUNK = const(256)     # blocks per step of the ms counter: 256 * block_len * 1000 < 2**30
_STATUS_HELD = const(0x80)  # block status: samples filled by holding (missed conversions)


def _i32(n):
    return array("i", bytes(4 * n))


class EmgSampler:
    def __init__(self, source, channels, fs_hz, block_len, n_blocks=8, ticks_us=None):
        """``source``: EMG driver with ``sample_into(a0, a1, i) -> status``;
        ``channels``: 1 or 2; ``block_len``: samples per processing block;
        ``n_blocks``: ring size in blocks (the task may fall behind by n_blocks-1)."""
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2, not %r" % (channels,))
        if n_blocks < 2:
            raise ValueError("the ring needs at least 2 blocks")
        if not 0 < block_len <= 4000:
            raise ValueError("block_len must be 1..4000 samples, not %r" % (block_len,))
        self._src = source
        self.channels = channels
        self.fs_hz = fs_hz
        self.block_len = block_len
        self._L = block_len
        self._NB = n_blocks
        self._blk0 = [_i32(block_len) for _ in range(n_blocks)]
        self._blk1 = [_i32(block_len) for _ in range(n_blocks)] if channels == 2 else [None] * n_blocks
        self._bst = bytearray(n_blocks)
        self._ticks = ticks_us if ticks_us is not None else time.ticks_us
        self._per = 1000000 // fs_hz
        self.flag = None
        self._read_ref = self.read  # bound once: the hard IRQ must not allocate
        self.reset()

    def reset(self):
        """Forget everything (before starting the converter)."""
        self._i = 0
        self._b = 0
        self._wblk = 0
        self._tl = 0
        self._run = False
        self.jit_max = 0
        self.irqs = 0
        self._edges = 0
        self._edges_done = 0
        self._sched = False
        self.sched_full = 0
        self.missed = 0
        # consumer side (task context)
        self._rblk = 0
        self._rslot = 0
        self.ms = 0         # device ms of the next block's first sample
        self._frac = 0      # remainder of ms * fs_hz not yet a whole ms (0..fs_hz-1)
        self.dropped = 0
        self.overruns = 0
        self.status = 0
        for i in range(self._NB):
            self._bst[i] = 0

    # -- interrupt context: no allocation ------------------------------------------------
    @micropython.native
    def irq(self, _arg):
        """One sample now (timer interrupt, or the scheduled read of a DRDY edge)."""
        t = self._ticks()
        b = self._b
        i = self._i
        self._bst[b] |= self._src.sample_into(self._blk0[b], self._blk1[b], i)
        if self._run:
            d = time.ticks_diff(t, self._tl) - self._per
            if d < 0:
                d = -d
            if d > self.jit_max:
                self.jit_max = d
        self._run = True
        self._tl = t
        n = self.irqs + 1
        self.irqs = n if n < _WRAP else 0
        self._advance()

    @micropython.native
    def _advance(self):
        i = self._i + 1
        if i == self._L:
            i = 0
            b = self._b + 1
            if b == self._NB:
                b = 0
            self._bst[b] = 0
            self._b = b
            self._wblk = (self._wblk + 1) % _WRAP
            f = self.flag
            if f is not None:
                f.set()
        self._i = i

    @micropython.native
    def _hold(self, n):
        """Fill n samples the converter produced but nobody read (their frames were
        overwritten) with the last value, so later samples keep their true index."""
        for _ in range(n):
            b = self._b
            i = self._i
            if i:
                j, pb = i - 1, b
            else:
                j, pb = self._L - 1, (b - 1) % self._NB
            self._blk0[b][i] = self._blk0[pb][j]
            a1 = self._blk1[b]
            if a1 is not None:
                a1[i] = self._blk1[pb][j]
            self._bst[b] |= _STATUS_HELD
            self._advance()

    @micropython.native
    def drdy_irq(self, _pin):
        """Hard DRDY interrupt: count the conversion, ask for a read in scheduled context
        (SPI cannot run in ISR context on the ESP32). A read that comes too late (the
        scheduler was busy) finds several edges counted: the frames in between were
        overwritten by the part; they are filled by ``_hold`` and counted in ``missed``."""
        self._edges = (self._edges + 1) % _WRAP
        if not self._sched:
            try:
                micropython.schedule(self._read_ref, 0)
                self._sched = True  # safe after the call: the read cannot run before we return
            except RuntimeError:    # queue full: count it, the next edge tries again
                n = self.sched_full + 1
                self.sched_full = n if n < _WRAP else 0

    @micropython.native
    def read(self, _arg):
        self._sched = False
        e = self._edges
        k = (e - self._edges_done) % _WRAP
        self._edges_done = e
        if k == 0:
            return
        if k > 1:
            self.missed = (self.missed + k - 1) % _WRAP
            self._hold(k - 1)
        self.irq(None)

    # -- task context --------------------------------------------------------------------
    def pending(self):
        """Complete blocks waiting (may exceed the ring: those are lost)."""
        return (self._wblk - self._rblk) % _WRAP

    def _skip_ms(self, blocks):
        """Advance the ms counter by ``blocks`` blocks (exact: remainder carried)."""
        fs = self.fs_hz
        while blocks > 0:
            k = blocks if blocks < _CHUNK else _CHUNK
            f = self._frac + k * self._L * 1000
            q = f // fs
            self._frac = f - q * fs
            self.ms += q
            blocks -= k

    def next_block(self, raw0, raw1=None):
        """Copy the oldest complete block to raw0 (and raw1); return the device time (ms)
        of its first sample, or -1 if no block is complete. ``status`` then holds the OR
        of the block's sample status bits (lead-off, railed, bad frame); ``ms`` is the
        time of the sample after the block."""
        nb = self._NB
        while True:
            avail = (self._wblk - self._rblk) % _WRAP
            if avail == 0:
                return -1
            if avail >= nb:  # the interrupt has lapped us: the oldest blocks are gone
                skip = avail - nb + 1
                self._drop(skip)
                self._rblk = (self._rblk + skip) % _WRAP
                self._rslot = (self._rslot + skip) % nb
                continue
            s = self._rslot
            dsp.copy(self._blk0[s], raw0, self._L)
            if raw1 is not None and self._blk1[s] is not None:
                dsp.copy(self._blk1[s], raw1, self._L)
            self.status = self._bst[s]
            lapped = (self._wblk - self._rblk) % _WRAP >= nb
            self._rblk = (self._rblk + 1) % _WRAP
            self._rslot = (s + 1) % nb
            if lapped:  # overwritten while we copied: drop it too
                self._drop(1)
                continue
            start = self.ms
            self._skip_ms(1)
            return start

    def _drop(self, blocks):
        """Count ``blocks`` lost blocks (samples in ``dropped``) and skip their time."""
        while blocks > 0:
            k = blocks if blocks < _CHUNK else _CHUNK
            self.dropped = (self.dropped + k * self._L) % _WRAP
            self._skip_ms(k)
            blocks -= k
        self.overruns = (self.overruns + 1) % _WRAP

    def take_jitter(self):
        """Maximum interval jitter (us) since the last call; resets it."""
        j = self.jit_max
        self.jit_max = 0
        return j


class ImuStage:
    def __init__(self, imu, fs_hz, odr_hz=None, per_block=10, backlog=None):
        """``imu``: driver with ``read_fifo(ax, ay, az, gx, gy, gz, off, cap)`` and
        ``reset_fifo()``; ``fs_hz``: rate the IMU chain expects; ``odr_hz``: sensor ODR
        (resampled to fs_hz when different); ``per_block``: IMU samples per EMG block."""
        self.imu = imu
        self.fs_hz = fs_hz
        self.odr_hz = odr_hz or fs_hz
        self.per_block = per_block
        self.backlog = backlog if backlog is not None else 2 * per_block
        cap = self.backlog + 4 * per_block + 8
        self.cap = cap
        self.st = [_i32(cap) for _ in range(6)]  # staged, at fs_hz
        self._step = int(self.odr_hz * 100 / fs_hz + 0.5)
        self._resample = self._step != 100
        # read from the FIFO at odr_hz (only when resampling; else straight into st)
        self.raw = [_i32(cap) for _ in range(6)] if self._resample else None
        self.n = 0
        self.padded = 0
        self.trimmed = 0
        self.bus_errors = 0
        self.overflows = 0
        self.received = 0
        # resampler: position of the next output in 1/100 input samples after prev
        self._prev = _i32(6)
        self._have_prev = False
        self._pos = 0

    def poll(self):
        """Drain the FIFO into the staging area (task context; no allocation)."""
        room = self.cap - self.n
        if room <= 0:
            return 0
        r = self.raw if self._resample else self.st
        off = 0 if self._resample else self.n
        if self._resample:
            room = room * 100 // self._step
        try:
            k = self.imu.read_fifo(r[0], r[1], r[2], r[3], r[4], r[5], off, room)
        except OSError:
            self.bus_errors += 1
            try:
                self.imu.reset_fifo()
            except OSError:
                pass
            return 0
        if k < 0:
            self.overflows += 1
            return 0
        self.received += k
        if not self._resample:
            self.n += k
            return k
        return self._interp(k)

    def _interp(self, k):
        r = self.raw
        st = self.st
        p = self._prev
        start = 0
        if not self._have_prev and k:
            for c in range(6):
                p[c] = r[c][0]
            self._have_prev = True
            start = 1
        pos = self._pos
        for j in range(start, k):
            # outputs between prev (pos 0) and this input (pos 100)
            while pos <= 100 and self.n < self.cap:
                o = self.n
                for c in range(6):
                    a = p[c]
                    st[c][o] = a + (r[c][j] - a) * pos // 100
                self.n += 1
                pos += self._step
            pos -= 100
            for c in range(6):
                p[c] = r[c][j]
        self._pos = pos
        return k

    def take(self, dst, m):
        """Fill dst[0..5][0:m] with the next m staged samples (holding the last value if
        short); keep at most ``backlog`` samples staged afterwards."""
        st = self.st
        n = self.n
        k = m if n >= m else n
        for c in range(6):
            s = st[c]
            d = dst[c]
            for i in range(k):
                d[i] = s[i]
            last = s[k - 1] if k else (d[m - 1] if m else 0)
            for i in range(k, m):
                d[i] = last
        if k < m:
            self.padded += m - k
        rest = n - k
        drop = rest - self.backlog if rest > self.backlog else 0
        if drop:
            self.trimmed += drop
        src = k + drop
        rest -= drop
        if src:
            for c in range(6):
                s = st[c]
                for i in range(rest):
                    s[i] = s[src + i]
        self.n = rest
        return m
