"""EMG and IMU processing chains built from the fixed-point kernels in ``dsp.py``.

Everything is checked and allocated at configuration time (constructor and ``bind``);
``run``/``process`` then only call kernels on preallocated buffers and allocate nothing.

EMG chain per channel (raw ADC counts at ``coeffs.FS_HZ``)::

    raw -> << SIG_FRAC -> band-pass (Butterworth HP order 4 + LP order 2) [-> mains notch + 3rd harmonic]
        -> |.| (or TKEO) -> sum per envelope period -> 0.01 uV -> 100 ms moving mean (ARV)
                                                               (or 8 Hz low-pass)  = env
    raw -> mean per envelope period (0.01 uV) -> 1-20 Hz band -> |.| -> 100 ms mean = lf
    raw -> min, max per envelope period                                     = rmin, rmax

IMU chain (raw counts at ``coeffs.IMU_FS_HZ``): accel -> mg -> 0.5 Hz high-pass (gravity
removal) -> vector magnitude = acc (mg); gyro -> 0.1 dps -> magnitude = gyro (0.1 dps);
accel (mg) first difference -> magnitude -> 0.01 g/s = jerk.
"""
from array import array

from . import dsp as _viper
from . import mains as _mains

MAINS_AUTO = -1   # mains_hz: detect 50/60 Hz hum and switch a notch in while present (mains.py)
ENV_ARV = "arv"
ENV_LP = "lp"
ENV_TKEO = "tkeo"
_ENV_MODES = (ENV_ARV, ENV_LP, ENV_TKEO)
#: Layout of the generated coefficients module this code understands.
COEFFS_LAYOUT = 2
_EMG_NAMES = ("COEFFS_LAYOUT", "FS_HZ", "EMG_DECIM", "ENV_WIN", "SIG_FRAC", "BP_SOS", "NOTCH50_SOS",
              "NOTCH60_SOS", "NOTCH150_SOS", "NOTCH180_SOS", "RECT_SHIFT", "ENV_K", "ENV_S", "ENV_PRE",
              "TKEO_SHIFT",
              "TKEO_SUM_SHIFT", "TKEO_K", "TKEO_S", "TKEO_PRE", "LF_K", "LF_S", "LF_PRE",
              "LF_FRAC", "LF_SOS", "ENVLP_FRAC", "ENVLP_SOS", "ADC_MAX")
_IMU_NAMES = ("COEFFS_LAYOUT", "IMU_FS_HZ", "ACC_K", "ACC_S", "ACC_PRE", "GYRO_K", "GYRO_S", "GYRO_PRE",
              "IMU_FRAC", "IMU_HP_SOS", "JERK_MUL")


class ConfigError(ValueError):
    """A chain configured with unusable coefficients, options or buffers."""


def _need(coeffs, names):
    for name in names:
        if not hasattr(coeffs, name):
            raise ConfigError("coefficients module lacks %s (regenerate with `make coeffs`)" % name)
    if coeffs.COEFFS_LAYOUT != COEFFS_LAYOUT:
        raise ConfigError("coefficients layout %r, firmware needs %d (regenerate with `make coeffs`)"
                          % (coeffs.COEFFS_LAYOUT, COEFFS_LAYOUT))
    for name in names:
        if name.endswith("_SOS"):
            _check_sos(name, getattr(coeffs, name))


def _check_sos(name, sos):
    if name[:6] == "NOTCH1" and sos == array("i"):
        return              # a harmonic notch the board's band or rate leaves out: no sections
    if not is_i32_array(sos) or len(sos) % 8:
        raise ConfigError("%s must be array('i') of 8-word sections" % name)
    for o in range(0, len(sos), 8):
        q, k, form = sos[o + 5], sos[o + 6], sos[o + 7]
        if not (8 <= q <= k <= 30) or form not in (0, 1, 2):
            raise ConfigError("%s section %d has invalid q=%d k=%d form=%d" % (name, o // 8, q, k, form))


def is_i32_array(buf):
    """True if ``buf`` is an array('i') (signed 32-bit items). Config-time only: allocates."""
    if not isinstance(buf, array) or len(buf) == 0:
        return False
    if len(bytes(memoryview(buf)[:1])) != 4:
        return False
    keep = buf[0]
    try:
        buf[0] = -1
        ok = buf[0] == -1
        buf[0] = 1
        ok = ok and bytes(memoryview(buf)[:1]) in (b"\x01\x00\x00\x00", b"\x00\x00\x00\x01")
    except (OverflowError, TypeError, ValueError):
        ok = False
    buf[0] = keep
    return ok


def require_i32(name, buf, min_len):
    if not is_i32_array(buf):
        raise ConfigError("%s must be array('i') (signed 32-bit)" % name)
    if len(buf) < min_len:
        raise ConfigError("%s holds %d items, needs at least %d" % (name, len(buf), min_len))


def _i32(n):
    return array("i", bytes(4 * n))


def _state(sos, sx):
    nsec = len(sos) // 8
    st = _i32(2 + 6 * nsec)
    st[0] = nsec
    st[1] = sx
    return st


def _ring(win, sx):
    r = _i32(4 + win)
    r[0] = win
    r[3] = sx
    return r


class EmgChain:
    """One EMG channel: ``block_len`` raw samples in, ``block_len // EMG_DECIM`` outputs.

    ``mains_hz``: 0 (off, default: SENIAM advises against notches), 50 or 60 (fixed notch),
    or ``MAINS_AUTO`` (a notch switched in only while hum is detected; ``mains_now`` says which).
    ``env_mode``: "arv" (100 ms mean rectified, default), "lp" (8 Hz low-pass of the
    rectified signal) or "tkeo" (Teager-Kaiser energy, sqrt of its mean, an amplitude-like
    index in 0.01 uV-equivalent; not an amplitude).
    ``kernels``: module with the kernels (``dsp``; ``dsp_plain`` for the readable twin).
    """

    def __init__(self, coeffs, block_len, mains_hz=0, env_mode=ENV_ARV, kernels=None):
        _need(coeffs, _EMG_NAMES)
        k = kernels if kernels is not None else _viper
        d = coeffs.EMG_DECIM
        if not isinstance(block_len, int) or block_len <= 0 or block_len % d:
            raise ConfigError("block_len %r must be a positive multiple of EMG_DECIM=%d" % (block_len, d))
        if mains_hz not in (0, 50, 60, MAINS_AUTO):
            raise ConfigError("mains_hz must be 0 (off), 50, 60 or %d (auto), not %r" % (MAINS_AUTO, mains_hz))
        if env_mode not in _ENV_MODES:
            raise ConfigError("env_mode must be one of %s, not %r" % (_ENV_MODES, env_mode))
        self.k = k
        self.coeffs = coeffs
        self.block_len = block_len
        self.decim = d
        self.out_len = block_len // d
        self.mains_hz = mains_hz
        self.env_mode = env_mode
        sx = k.SX
        sos = array("i", coeffs.BP_SOS)
        if mains_hz == 50:                   # the notch and its third harmonic's (may be empty)
            sos.extend(coeffs.NOTCH50_SOS)
            sos.extend(coeffs.NOTCH150_SOS)
        elif mains_hz == 60:
            sos.extend(coeffs.NOTCH60_SOS)
            sos.extend(coeffs.NOTCH180_SOS)
        self.sos = sos
        self.bp_state = _state(sos, sx)
        self.auto = _mains.AutoNotch(coeffs, block_len, k) if mains_hz == MAINS_AUTO else None
        self.work = _i32(block_len)
        big_m = self.out_len
        self.p_prep = array("i", [0, d, coeffs.SIG_FRAC, sx, big_m])
        # per-period raw sum, min and max from one pass (prep), handed out by copies
        self.stats = _i32(3 * big_m)
        self.stats_min = memoryview(self.stats)[big_m:2 * big_m]
        self.stats_max = memoryview(self.stats)[2 * big_m:]
        if env_mode == ENV_TKEO:
            self.p_tkeo = array("i", [0, coeffs.TKEO_SHIFT, coeffs.TKEO_SUM_SHIFT, sx, 0, 0])
            self.p_rect = array("i", [0, d, 0, sx])
            self.p_env = array("i", [coeffs.TKEO_K, coeffs.TKEO_S, coeffs.TKEO_PRE, sx])
        else:
            self.p_rect = array("i", [0, d, coeffs.RECT_SHIFT, sx])
            self.p_env = array("i", [coeffs.ENV_K, coeffs.ENV_S, coeffs.ENV_PRE, sx])
        self.env_ring = _ring(coeffs.ENV_WIN, sx)
        self.envlp_sos = array("i", coeffs.ENVLP_SOS)
        self.envlp_state = _state(self.envlp_sos, sx)
        self.p_envlp_out = array("i", [coeffs.ENVLP_FRAC, sx])
        self.p_lf = array("i", [coeffs.LF_K, coeffs.LF_S, coeffs.LF_PRE, sx])
        self.lf_sos = array("i", coeffs.LF_SOS)
        self.lf_state = _state(self.lf_sos, sx)
        self.p_lf_out = array("i", [coeffs.LF_FRAC, sx])
        self.lf_ring = _ring(coeffs.ENV_WIN, sx)
        self.primed = False
        self._bound = None
        self.fast = None

    def bind(self, raw, env, lf, rmin, rmax, fast=None):
        """Check the caller's buffers once (typecode and length); ``run`` then uses them.

        ``fast`` (optional): also receives the 10 ms envelope before the 100 ms mean (or the
        low-pass), 0.01 uV, one value per output; clonus bursts at 5-10 Hz survive in it."""
        require_i32("raw", raw, self.block_len)
        for name, buf in (("env", env), ("lf", lf), ("rmin", rmin), ("rmax", rmax)):
            require_i32(name, buf, self.out_len)
        if fast is not None:
            require_i32("fast", fast, self.out_len)
            self.fast = fast
        self._bound = (raw, env, lf, rmin, rmax)

    def attach_fast(self, fast):
        """Add (or replace) the ``fast`` output buffer after ``bind`` (see ``bind``)."""
        require_i32("fast", fast, self.out_len)
        self.fast = fast

    def process(self, raw, n, env, lf, rmin, rmax):
        """Process raw[0:n]; returns the number of outputs written (n // EMG_DECIM)."""
        b = self._bound
        if b is None or b[0] is not raw or b[1] is not env or b[2] is not lf \
                or b[3] is not rmin or b[4] is not rmax:
            self.bind(raw, env, lf, rmin, rmax)
        return self.run(n)

    @property
    def mains_now(self):
        """The notch in use now: 0 (none), 50 or 60 Hz."""
        if self.auto is not None:
            return self.auto.hz
        return self.mains_hz

    def run(self, n):
        if n > self.block_len or n % self.decim or n < 0:
            raise ValueError("n=%d: must be a multiple of %d up to %d" % (n, self.decim, self.block_len))
        raw, env, lf, rmin, rmax = self._bound
        k = self.k
        m = n // self.decim
        if m == 0:
            return 0
        if not self.primed:
            # first high-pass section at steady state for the first sample: no offset transient
            x0 = raw[0] << self.coeffs.SIG_FRAC
            self.bp_state[2] = x0
            self.bp_state[3] = x0
            self.primed = True
        self.p_prep[0] = n
        k.prep(raw, self.work, self.stats, self.p_prep)
        k.copy(self.stats, lf, m)
        k.copy(self.stats_min, rmin, m)
        k.copy(self.stats_max, rmax, m)
        k.biquad(self.work, n, self.sos, self.bp_state)
        if self.auto is not None:
            self.auto.run(self.work, n)
        if self.env_mode == ENV_TKEO:
            self.p_tkeo[0] = n
            k.tkeo(self.work, self.p_tkeo)
            self.p_rect[0] = n
            k.rect_decim(self.work, env, self.p_rect)
            k.isqrt(env, m)
        else:
            self.p_rect[0] = n
            k.rect_decim(self.work, env, self.p_rect)
        k.mulshift(env, m, self.p_env)
        if self.fast is not None:
            k.copy(env, self.fast, m)
        if self.env_mode == ENV_LP:
            k.shl(env, m, self.coeffs.ENVLP_FRAC)
            k.biquad(env, m, self.envlp_sos, self.envlp_state)
            k.clamp_low0(env, m, self.p_envlp_out)
        else:
            k.movmean(env, m, self.env_ring)
        k.mulshift(lf, m, self.p_lf)
        k.shl(lf, m, self.coeffs.LF_FRAC)
        k.biquad(lf, m, self.lf_sos, self.lf_state)
        k.abs_shr(lf, m, self.p_lf_out)
        k.movmean(lf, m, self.lf_ring)
        return m


class ImuChain:
    """IMU features at the IMU rate from raw accelerometer and gyroscope counts."""

    def __init__(self, coeffs, block_len, kernels=None):
        _need(coeffs, _IMU_NAMES)
        if not isinstance(block_len, int) or block_len <= 0:
            raise ConfigError("block_len %r must be a positive int" % (block_len,))
        k = kernels if kernels is not None else _viper
        self.k = k
        self.coeffs = coeffs
        self.block_len = block_len
        sx = k.SX
        self.hp_sos = array("i", coeffs.IMU_HP_SOS)
        self.hp_states = [_state(self.hp_sos, sx) for _ in range(3)]
        self.p_acc = array("i", [coeffs.ACC_K, coeffs.ACC_S, coeffs.ACC_PRE, sx])
        self.p_gyro = array("i", [coeffs.GYRO_K, coeffs.GYRO_S, coeffs.GYRO_PRE, sx])
        self.p_frac = array("i", [coeffs.IMU_FRAC, sx])
        self.wx, self.wy, self.wz = _i32(block_len), _i32(block_len), _i32(block_len)
        self.dx, self.dy, self.dz = _i32(block_len), _i32(block_len), _i32(block_len)
        self.p_mag_acc = array("i", [0, 16383, sx])
        self.p_mag_gyro = array("i", [0, 20000, sx])
        self.p_diff = [array("i", [0, 0, sx]) for _ in range(3)]
        self.p_shr = array("i", [coeffs.IMU_FRAC, sx])
        self.primed = False
        self._bound = None

    def bind(self, ax, ay, az, gx, gy, gz, acc, gyro, jerk):
        for name, buf in (("ax", ax), ("ay", ay), ("az", az), ("gx", gx), ("gy", gy),
                          ("gz", gz), ("acc", acc), ("gyro", gyro), ("jerk", jerk)):
            require_i32(name, buf, self.block_len)
        self._bound = (ax, ay, az, gx, gy, gz, acc, gyro, jerk)

    def process(self, ax, ay, az, gx, gy, gz, n, acc, gyro, jerk):
        b = self._bound
        if b is None or b[0] is not ax or b[1] is not ay or b[2] is not az or b[3] is not gx \
                or b[4] is not gy or b[5] is not gz or b[6] is not acc or b[7] is not gyro \
                or b[8] is not jerk:
            self.bind(ax, ay, az, gx, gy, gz, acc, gyro, jerk)
        return self.run(n)

    def run(self, n):
        if n > self.block_len or n < 0:
            raise ValueError("n=%d exceeds block_len %d" % (n, self.block_len))
        if n == 0:
            return 0
        ax, ay, az, gx, gy, gz, acc, gyro, jerk = self._bound
        k = self.k
        self._accel_axis(ax, self.wx, self.dx, self.hp_states[0], self.p_diff[0], n)
        self._accel_axis(ay, self.wy, self.dy, self.hp_states[1], self.p_diff[1], n)
        self._accel_axis(az, self.wz, self.dz, self.hp_states[2], self.p_diff[2], n)
        self.primed = True
        self.p_mag_acc[0] = n
        k.sumsq3(self.wx, self.wy, self.wz, self.p_mag_acc)
        k.isqrt(self.wx, n)
        k.copy(self.wx, acc, n)
        k.sumsq3(self.dx, self.dy, self.dz, self.p_mag_acc)
        k.isqrt(self.dx, n)
        k.copy(self.dx, jerk, n)
        k.scale(jerk, n, self.coeffs.JERK_MUL)
        k.copy(gx, self.wx, n)
        k.copy(gy, self.wy, n)
        k.copy(gz, self.wz, n)
        k.mulshift(self.wx, n, self.p_gyro)
        k.mulshift(self.wy, n, self.p_gyro)
        k.mulshift(self.wz, n, self.p_gyro)
        self.p_mag_gyro[0] = n
        k.sumsq3(self.wx, self.wy, self.wz, self.p_mag_gyro)
        k.isqrt(self.wx, n)
        k.copy(self.wx, gyro, n)
        return n

    def _accel_axis(self, src, w, d, st, p_diff, n):
        """One accelerometer axis: counts -> mg (w, then gravity-removed), first difference (d)."""
        k = self.k
        k.copy(src, w, n)
        k.mulshift(w, n, self.p_acc)
        k.copy(w, d, n)
        k.diff(d, n, p_diff)
        frac = self.coeffs.IMU_FRAC
        if not self.primed:
            x0 = w[0] << frac
            st[2] = x0
            st[3] = x0
        k.shl(w, n, frac)
        k.biquad(w, n, self.hp_sos, st)
        k.sar(w, n, self.p_shr)
