"""Signal quality per channel and 10 ms tick: lost (lead-off, railed, flat) or clipped.

A tick is *lost* when the front end reports lead-off for the channel, when every raw
sample of the tick lies beyond ``rail_pm`` of full scale (a lead off and the front end
saturated), or when the raw peak-to-peak has stayed at or below ``flat_cuv`` for
``flat_need`` ticks (flat: a disconnected or shorted input; on a coarse ADC, where one
count is above ``flat_cuv``, a quiet muscle can sit in one code for a few ticks, so there
the signal must stay flat for ``flat_q_ms``). A good tick with a sample at the rail is
*clipped*. ``scan`` classifies one block in one viper pass (allocates nothing); the
detector holds a lost channel off for ``bad_hold_ms`` and relearns its floor afterwards.
"""
import micropython
from micropython import const

GOOD = const(0)
LOST = const(1)
CLIPPED = const(2)

# parameter block (array('i')) of ``scan``
P_M = const(0)        # ticks in this block
P_RAIL = const(1)     # ADC counts: a tick wholly beyond +-rail is railed
P_FLAT = const(2)     # ADC counts: peak-to-peak at or below this is flat
P_NEED = const(3)     # consecutive flat ticks that make the signal lost
P_RUN = const(4)      # state: consecutive flat ticks so far (carried between blocks)
P_FORCED = const(5)   # 1: the front end reports lead-off for this channel
P_SX = const(6)       # sign-extension shift of ptr32 loads (32 on 64-bit ports, else 0)
P_N = const(7)

_MAX_UV_PER_COUNT = const(8)  # coarsest usable EMG step (uV per count); host: boards.MAX_UV_PER_COUNT


def limits(cfg, coeffs):
    """(rail counts, flat counts, flat ticks needed) for a board; config time only.

    Raises ValueError for a board whose ADC step is too coarse for surface EMG."""
    uvpc = coeffs.UV_PER_COUNT
    if uvpc > _MAX_UV_PER_COUNT:
        raise ValueError("EMG ADC step %.2f uV/count is coarser than %d uV: weak spasms "
                         "(10-20 uV) cannot be resolved; raise the gain or the ADC bits"
                         % (uvpc, _MAX_UV_PER_COUNT))
    flat = int(cfg.flat_cuv / 100.0 / uvpc)
    # quantisation: a step coarser than the flat limit cannot tell flat from quiet in
    # one tick (10 samples at 0.4 LSB RMS noise share one code ~1/2 of the time)
    need = 1 if cfg.flat_cuv >= uvpc * 100.0 else max(1, cfg.flat_q_ms // 10)
    rail = coeffs.ADC_MAX * cfg.rail_pm // 1000
    return rail, flat, need


@micropython.viper
def scan(rmin, rmax, q, p):
    """q[i] = GOOD, LOST or CLIPPED for the p[P_M] ticks of raw min/max counts (rmin, rmax)."""
    lop = ptr32(rmin)
    hip = ptr32(rmax)
    qp = ptr8(q)
    pp = ptr32(p)
    m = pp[0]
    rail = pp[1]
    nrail = 0 - rail
    flat = pp[2]
    need = pp[3]
    run = pp[4]
    forced = pp[5]
    sx = pp[6]
    i = 0
    while i < m:
        lo = (lop[i] << sx) >> sx
        hi = (hip[i] << sx) >> sx
        if hi - lo <= flat:
            if run < need:
                run += 1
        else:
            run = 0
        if forced or lo >= rail or hi <= nrail or run >= need:
            qp[i] = 1
        elif hi >= rail or lo <= nrail:
            qp[i] = 2
        else:
            qp[i] = 0
        i += 1
    pp[4] = run
