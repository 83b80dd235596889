"""The adaptive noise floor of one channel and the two thresholds derived from it.

The floor is a low-quantile tracker of the 100 ms envelope (0.01 uV), held in 1/64 steps
(``fq``) so that slow tracking does not stall in integer rounding:

* at rest it falls by floor>>``floor_down_shift`` (+1) per tick while the envelope is below
  it and rises by floor>>``floor_up_shift`` (+1) only while the envelope sits between the
  floor and the onset threshold, so it follows electrode and hum drift but never climbs
  onto a spasm;
* during warm-up (start, lost signal) it moves 1/2**``warmup_shift`` of the way per tick;
* during an event it is frozen except a creep of floor>>``floor_creep_shift`` per tick
  (applied every 64 ticks), so that a background step under an event is eventually left;
* ``rebase`` sets it to a measured mean (background stepped up under an 'event').

Thresholds: onset = floor + max(floor*on_ratio_64/64, min_step_cuv), offset likewise with
off_ratio_64; the event's "middle" is their mean. Every value stays below 2**30 (the floor
is clamped to ``FCLAMP`` = 42 mV and the ratios to 127/64), so nothing allocates on an
ESP32, whose small ints are 31-bit. The state lives in one ``array('i')`` (``new``) and
is changed only by the viper functions below.
"""
from array import array

import micropython
from micropython import const

FCLAMP = const(4194304)   # floor limit (0.01 uV): 42 mV, far beyond any real floor

# state words
FQ = const(0)         # floor, 1/64 of 0.01 uV
FLOOR = const(1)      # floor, 0.01 uV
ON = const(2)         # onset threshold, 0.01 uV
OFF = const(3)        # offset threshold, 0.01 uV
MID = const(4)        # (ON + OFF) // 2: an event stays active above it
_ONR = const(5)
_OFFR = const(6)
_MSTEP = const(7)
_FMIN = const(8)
_DSH = const(9)
_USH = const(10)
_WSH = const(11)
_CSH = const(12)
_N = const(13)


def new(cfg):
    """A floor state for ``cfg`` (a detconfig.Config); config time only."""
    for name in ("on_ratio_64", "off_ratio_64"):
        v = getattr(cfg, name)
        if not 0 <= v <= 127:
            raise ValueError("%s must be 0..127, not %d" % (name, v))
    if not 0 <= cfg.min_step_cuv <= FCLAMP or not 1 <= cfg.floor_min_cuv <= FCLAMP:
        raise ValueError("min_step_cuv and floor_min_cuv must be within 0..%d" % FCLAMP)
    if not 6 <= cfg.floor_creep_shift <= 30:
        raise ValueError("floor_creep_shift must be 6..30")
    st = array("i", bytes(4 * _N))
    st[_ONR] = cfg.on_ratio_64
    st[_OFFR] = cfg.off_ratio_64
    st[_MSTEP] = cfg.min_step_cuv
    st[_FMIN] = cfg.floor_min_cuv
    st[_DSH] = cfg.floor_down_shift
    st[_USH] = cfg.floor_up_shift
    st[_WSH] = cfg.warmup_shift
    st[_CSH] = cfg.floor_creep_shift
    set_floor(st, 0)
    return st


@micropython.viper
def set_floor(st, v: int):
    """Floor := v (0.01 uV), clamped to floor_min_cuv..FCLAMP."""
    sp = ptr32(st)
    if v > 4194304:
        v = 4194304
    if v < sp[8]:
        v = sp[8]
    sp[0] = v << 6
    sp[1] = v
    f = v
    m = sp[7]
    d = (f * sp[5]) >> 6
    on = f + (d if d > m else m)
    d = (f * sp[6]) >> 6
    off = f + (d if d > m else m)
    sp[2] = on
    sp[3] = off
    sp[4] = (on + off) >> 1


@micropython.viper
def warm(st, e: int, fresh: int):
    """One warm-up tick with envelope e: the floor moves 1/2**warmup_shift of the way
    (``fresh``: jumps to e)."""
    sp = ptr32(st)
    if e > 4194304:
        e = 4194304
    if fresh:
        fq = e << 6
    else:
        fq = sp[0]
        fq += ((e << 6) - fq) >> sp[11]
    f = fq >> 6
    if f < sp[8]:
        f = sp[8]
        fq = f << 6
    sp[0] = fq
    sp[1] = f
    m = sp[7]
    d = (f * sp[5]) >> 6
    on = f + (d if d > m else m)
    d = (f * sp[6]) >> 6
    off = f + (d if d > m else m)
    sp[2] = on
    sp[3] = off
    sp[4] = (on + off) >> 1


@micropython.viper
def rest(st, e: int):
    """One resting tick with envelope e (0.01 uV): low-quantile tracking."""
    sp = ptr32(st)
    fq = sp[0]
    f = sp[1]
    if e < f:
        fq -= (fq >> sp[9]) + 1
        f = fq >> 6
        if f < sp[8]:
            f = sp[8]
            fq = f << 6
    elif e < sp[2] and f < 4194304:
        fq += (fq >> sp[10]) + 1
        f = fq >> 6
    else:
        return
    sp[0] = fq
    sp[1] = f
    m = sp[7]
    d = (f * sp[5]) >> 6
    on = f + (d if d > m else m)
    d = (f * sp[6]) >> 6
    off = f + (d if d > m else m)
    sp[2] = on
    sp[3] = off
    sp[4] = (on + off) >> 1


@micropython.viper
def creep(st):
    """64 ticks of creep during an event: floor += floor>>floor_creep_shift per tick."""
    sp = ptr32(st)
    if sp[1] >= 4194304:
        return
    fq = sp[0]
    fq += fq >> (sp[12] - 6)
    sp[0] = fq
    f = fq >> 6
    sp[1] = f
    m = sp[7]
    d = (f * sp[5]) >> 6
    on = f + (d if d > m else m)
    d = (f * sp[6]) >> 6
    off = f + (d if d > m else m)
    sp[2] = on
    sp[3] = off
    sp[4] = (on + off) >> 1
