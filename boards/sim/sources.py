"""Signal sources that feed the virtual board's simulated parts.

EMG sources give the voltage at each input pair in microvolts as a function of time
(``uv(t_us, ch)``) and which electrodes have lost contact (``leads_off(t_us)``: bit 0
IN1P, 1 IN1N, 2 IN2P, 3 IN2N, 4 RLD). The part converts with its own gain, reference and
full scale and clips there, like the real ADC.

IMU sources give ``imu(t_us) -> (ax, ay, az, gx, gy, gz)`` in g and degrees/second.

Stream files (what the patient simulator writes): little-endian int32, interleaved by
channel, one frame per sample at the stream's rate: EMG in nanovolts, IMU as
(ax, ay, az) in micro-g then (gx, gy, gz) in milli-degrees/second.
"""
import math
import struct


class _Lcg:
    """Deterministic pseudo-random numbers (same on every run and port)."""

    def __init__(self, seed=12345):
        self.s = seed & 0x7FFFFFFF

    def uniform(self):
        self.s = (1103515245 * self.s + 12345) & 0x7FFFFFFF
        return self.s / 0x7FFFFFFF

    def gauss(self):
        # Irwin-Hall approximation: sum of 12 uniforms - 6
        t = 0.0
        for _ in range(12):
            t += self.uniform()
        return t - 6.0


class Baseline:
    """Resting muscle: gaussian noise of ``rms_uv`` on each channel, leads on."""

    def __init__(self, channels=2, rms_uv=2.0, seed=1):
        self.channels = channels
        self.rms = rms_uv
        self.rng = _Lcg(seed)
        self.off_mask = 0

    def uv(self, t_us, ch):
        return self.rng.gauss() * self.rms

    def leads_off(self, t_us):
        return self.off_mask


class Sine(Baseline):
    """A sine of ``amp_uv`` peak at ``freq_hz`` (plus optional offset) on every channel."""

    def __init__(self, freq_hz, amp_uv, offset_uv=0.0, channels=2):
        Baseline.__init__(self, channels, 0.0)
        self.w = 2 * math.pi * freq_hz
        self.amp = amp_uv
        self.offset = offset_uv

    def uv(self, t_us, ch):
        return self.offset + self.amp * math.sin(self.w * t_us * 1e-6)


class Func(Baseline):
    """``fn(t_us, ch) -> uV``: any generator the test writes."""

    def __init__(self, fn, channels=2):
        Baseline.__init__(self, channels, 0.0)
        self.fn = fn

    def uv(self, t_us, ch):
        return self.fn(t_us, ch)


class StreamEMG(Baseline):
    """EMG from a stream file (int32 nV, interleaved channels) at ``fs_hz``; after the end
    the last frame repeats. Read in chunks; a sample is looked up by its time."""

    CHUNK = 1024

    def __init__(self, path, fs_hz, channels):
        Baseline.__init__(self, channels, 0.0)
        self.f = open(path, "rb")
        self.fs = fs_hz
        self.base = -1
        self.buf = b""
        self.n = 0

    def _load(self, k):
        base = k - k % self.CHUNK
        if base != self.base:
            self.f.seek(base * self.channels * 4)
            self.buf = self.f.read(self.CHUNK * self.channels * 4)
            self.n = len(self.buf) // (self.channels * 4)
            self.base = base
        return k - base

    def uv(self, t_us, ch):
        k = t_us * self.fs // 1000000
        j = self._load(k)
        if j >= self.n:
            if self.n == 0:
                if self.base == 0:
                    return 0.0
                self._load(self.base - 1)
                j = self.n - 1
            else:
                j = self.n - 1
        return struct.unpack_from("<i", self.buf, (j * self.channels + ch) * 4)[0] * 1e-3


class Still:
    """A limb at rest: gravity on +z, no rotation, small noise."""

    def __init__(self, noise_g=0.002, noise_dps=0.05, seed=7):
        self.rng = _Lcg(seed)
        self.ng = noise_g
        self.nd = noise_dps

    def imu(self, t_us):
        r = self.rng
        return (r.gauss() * self.ng, r.gauss() * self.ng, 1.0 + r.gauss() * self.ng,
                r.gauss() * self.nd, r.gauss() * self.nd, r.gauss() * self.nd)


class Shake:
    """Sinusoidal shaking: acceleration ``amp_g`` and rotation ``amp_dps`` at ``freq_hz``."""

    def __init__(self, freq_hz, amp_g, amp_dps):
        self.w = 2 * math.pi * freq_hz
        self.ag = amp_g
        self.ad = amp_dps

    def imu(self, t_us):
        s = math.sin(self.w * t_us * 1e-6)
        return (self.ag * s, 0.0, 1.0, self.ad * s, 0.0, 0.0)


class StreamIMU:
    """IMU from a stream file (int32: ax ay az in micro-g, gx gy gz in mdps) at fs_hz."""

    def __init__(self, path, fs_hz):
        self.f = open(path, "rb")
        self.fs = fs_hz
        self.last = (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
        self.k = -1

    def imu(self, t_us):
        k = t_us * self.fs // 1000000
        if k != self.k:
            self.f.seek(k * 24)
            b = self.f.read(24)
            if len(b) == 24:
                v = struct.unpack("<6i", b)
                self.last = (v[0] * 1e-6, v[1] * 1e-6, v[2] * 1e-6,
                             v[3] * 1e-3, v[4] * 1e-3, v[5] * 1e-3)
            self.k = k
        return self.last
