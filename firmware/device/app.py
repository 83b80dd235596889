"""The measuring pipeline: sampler -> DSP chains -> detector -> flash log.

``App`` owns the preallocated buffers and wires the parts; ``process()`` handles every
complete EMG block (task context) and allocates nothing per block. The detector is used
through a narrow seam (bind, bind_imu, feed, pop_event, pop_summary, set_status, flush,
boot) so it can be swapped (``detector_factory``). Device time is the EMG sample count:
block t_ms = first sample index * 1000 // fs, kept as the sampler's running ms counter (the
product passes 2**30, a long int on the ESP32, after 17.9 min at 1 kHz), so overruns never
shift it. The counter itself would reach 2**30 after 12.4 days: ``epoch_over`` turns true an
hour before, and the runtime then restarts into a new boot (new device-time epoch).
"""
from array import array

from micropython import const

from core import dspchain
from core import records as R
from device.sampler import WRAP, EmgSampler, ImuStage

EPOCH_MS = const(0x3FC91180)  # (1 << 30) - 3_600_000: restart an hour before ms reach 2**30


def _i32(n):
    return array("i", bytes(4 * n))


class App:
    def __init__(self, coeffs, emg, channels, imu=None, imu_fs=0, imu_odr=0, log=None,
                 boot=0, det_cfg=None, block_len=100, n_blocks=8, ticks_us=None,
                 detector_factory=None, mains_hz=0):
        """``emg``: EMG driver (``sample_into``); ``imu``: IMU driver or None; ``log``:
        a flashlog.FlashLog (or anything with ``append(rtype, values)``), or None."""
        if block_len % coeffs.EMG_DECIM:
            raise ValueError("block_len %d must be a multiple of EMG_DECIM %d"
                             % (block_len, coeffs.EMG_DECIM))
        self.coeffs = coeffs
        self.fs = coeffs.FS_HZ
        self.channels = channels
        self.block_len = block_len
        m = block_len // coeffs.EMG_DECIM
        self.m = m
        self.log = log
        self.sampler = EmgSampler(emg, channels, self.fs, block_len, n_blocks, ticks_us)
        self.raws = [_i32(block_len) for _ in range(channels)]
        if detector_factory is None:
            from core import detconfig
            from core import detector

            cfg = det_cfg if det_cfg is not None else detconfig.DEFAULT
            self.det = detector.Detector(cfg, channels, coeffs)
            fast_cls = detector.FastEnv
        else:
            self.det = detector_factory(channels)
            fast_cls = None
        self.det.boot = boot
        self.chains = []
        self.fasts = []
        for ch in range(channels):
            c = dspchain.EmgChain(coeffs, block_len, mains_hz=mains_hz)
            env, lf, rmin, rmax = _i32(m), _i32(m), _i32(m), _i32(m)
            c.bind(self.raws[ch], env, lf, rmin, rmax)
            f = fast_cls(c) if fast_cls is not None else None
            self.det.bind(ch, env, lf, rmin, rmax, f.buf if f is not None else None)
            if ch == 0:
                self.env0 = env
            self.chains.append(c)
            self.fasts.append(f)
        self.imu_stage = None
        if imu is not None:
            self.imu_stage = ImuStage(imu, imu_fs, imu_odr or imu_fs,
                                      per_block=imu_fs * block_len // self.fs)
            if self.imu_stage.per_block != m:
                raise ValueError("IMU rate %d Hz gives %d samples per block; the detector "
                                 "needs one per envelope tick (%d)"
                                 % (imu_fs, self.imu_stage.per_block, m))
            self.imu_in = [_i32(m) for _ in range(6)]
            self.ichain = dspchain.ImuChain(coeffs, m)
            self.acc, self.gyro, self.jerk = _i32(m), _i32(m), _i32(m)
            a = self.imu_in
            self.ichain.bind(a[0], a[1], a[2], a[3], a[4], a[5], self.acc, self.gyro, self.jerk)
            self.det.bind_imu(self.acc, self.gyro, self.jerk, a[0], a[1], a[2], a[3], a[4], a[5])
        self._flushed = False
        self.live = None  # optional live(env, m) per block, e.g. BlePeripheral.push_live
        self.blocks = 0
        self.events = 0
        self.summaries = 0
        self.leadoff_blocks = 0
        self.t_ms = 0
        self._dropped_seen = 0
        self._missed_seen = 0

    def process(self):
        """Run every complete block through chains, detector and log; returns blocks."""
        s = self.sampler
        raws = self.raws
        r1 = raws[1] if self.channels > 1 else None
        det = self.det
        m = self.m
        done = 0
        while True:
            start = s.next_block(raws[0], r1)
            if start < 0:
                break
            st_bits = s.status
            if st_bits & 0x1F:
                self.leadoff_blocks += 1
            # the front end's lead-off comparators (ADS1292R LOFF_STAT in each frame: IN1P/N
            # -> channel 0, IN2P/N -> channel 1, RLD -> every channel) make the detector count
            # this block as lost signal whatever the samples look like
            mask = 0
            if st_bits & 0x10:
                mask = 0xFF
            else:
                if st_bits & 0x03:
                    mask |= 1
                if st_bits & 0x0C:
                    mask |= 2
            det.set_leadoff(mask)
            n = self.block_len
            for ch in range(self.channels):
                self.chains[ch].run(n)
                f = self.fasts[ch]
                if f is not None:
                    f.run(m)
            st = self.imu_stage
            if st is not None:
                st.poll()
                st.take(self.imu_in, m)
                self.ichain.run(m)
            # overrun blocks + conversions read too late (wrapping counters: differences)
            d = (s.dropped - self._dropped_seen) % WRAP + (s.missed - self._missed_seen) % WRAP
            self._dropped_seen = s.dropped
            self._missed_seen = s.missed
            det.set_status(d, s.take_jitter(), None)
            self.t_ms = s.ms
            det.feed(m, start)
            self._drain()
            if self.live is not None:
                self.live(self.env0, m)
            self.blocks += 1
            done += 1
        return done

    def _drain(self):
        det = self.det
        log = self.log
        while True:
            ev = det.pop_event()
            if ev is None:
                break
            self.events += 1
            if log is not None:
                log.append(R.TYPE_EVENT, ev)
        while True:
            sm = det.pop_summary()
            if sm is None:
                break
            self.summaries += 1
            if log is not None:
                log.append(R.TYPE_SUMMARY, sm)

    def flush(self):
        """Shutdown: close open events and write the partial summary (once: a reboot path
        that flushes and then unwinds through another flush must not duplicate them)."""
        if self._flushed:
            return
        self._flushed = True
        self.det.flush()
        self._drain()

    @property
    def epoch_over(self):
        """True when device ms are within an hour of 2**30 (time to start a new boot)."""
        return self.t_ms >= EPOCH_MS

    def coverage_pm(self):
        """Per-mille of processed blocks without lead-off."""
        b = self.blocks
        lo = self.leadoff_blocks
        while b >= 0x100000:  # keep lo * 1000 below 2**30
            b >>= 1
            lo >>= 1
        return 1000 - lo * 1000 // b if b else 0

    def status(self):
        """Counters for the status characteristic and the console (allocates)."""
        s = self.sampler
        st = self.imu_stage
        d = {"t_ms": self.t_ms, "blocks": self.blocks, "events": self.events,
             "summaries": self.summaries, "dropped": s.dropped, "overruns": s.overruns,
             "missed": s.missed, "jitter_us_max": s.jit_max,
             "leadoff_blocks": self.leadoff_blocks}
        if st is not None:
            d.update(imu_received=st.received, imu_padded=st.padded, imu_trimmed=st.trimmed,
                     imu_overflows=st.overflows, imu_bus_errors=st.bus_errors)
        return d

    async def run(self, start):
        """Start sampling (``start(sampler)``, e.g. Hardware.start_emg) and process each
        block when the interrupt signals it."""
        import asyncio

        flag = asyncio.ThreadSafeFlag()
        self.sampler.flag = flag
        start(self.sampler)
        while True:
            await flag.wait()
            self.process()
