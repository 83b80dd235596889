"""Replay entry on the MicroPython unix port: the real DSP chains and detector on a stream.

Started by ``spasmtrack replay`` (host/spasmtrack/replay.py) as
``micropython -c "import replay_main; replay_main.main(NCH, BLOCK, MAINS)"`` (MAINS: 0 off,
50/60 fixed, -1 automatic) with the
board's ``coeffs.py`` on MICROPYPATH. Reads from stdin, little-endian int32 words:

    per block: n (raw EMG samples in this block, a multiple of 10, <= BLOCK; 0 ends)
               NCH * n EMG counts (channel-major), then 6 * n//10 IMU counts
               (ax, ay, az, gx, gy, gz; each n//10 values, one per 10 ms)

Writes one text line per record to stdout: ``E v0 v1 ...`` (EVENT values in
records.FIELDS order), ``S ...`` (SUMMARY), and at the end ``D blocks ticks overflow``.
With ``trace`` (training the learned screen, ``spasmtrack.screen``) also ``C onset_ms
duration_ms keep channel f0 .. f17`` per candidate episode (screen.FEATURES order) and ``R
onset_ms duration_ms rule`` per activity a rule dropped (detector._reject); the trace list
allocates, so it is a host tool's mode, never the device's. ``screen``: a screen table
to use instead of the generated one (evaluating another table on the real firmware).
The per-block work (chains + detector) allocates nothing; reading uses readinto.
"""
import sys
from array import array

import coeffs
from core import detconfig
from core import detector
from core import dspchain
from core import records as R


def _read_exact(stream, buf, nbytes):
    # MicroPython's blocking readinto loops until nbytes or end of stream
    k = stream.readinto(buf, nbytes)
    return k if k else 0


def _emit(out, tag, a, n):
    out.write(tag)
    for i in range(n):
        out.write(" ")
        out.write(str(a[i]))
    out.write("\n")



def _drain(out, det, ne, ns):
    """Write every candidate (trace mode), event, then summary the detector has ready."""
    if det.trace:
        for on, dur, keep, ch, f in det.trace:
            out.write("C %d %d %d %d %s\n" % (on, dur, keep, ch, " ".join(str(v) for v in f)))
        det.trace.clear()
    if det.rtrace:
        for on, dur, why in det.rtrace:
            out.write("R %d %d %s\n" % (on, dur, why))
        det.rtrace.clear()
    while True:
        ev = det.pop_event()
        if ev is None:
            break
        _emit(out, "E", ev, ne)
    while True:
        sm = det.pop_summary()
        if sm is None:
            break
        _emit(out, "S", sm, ns)

def main(nch, block, mains=0, config=None, trace=False, screen=None):
    cfg = config if config is not None else detconfig.DEFAULT
    m_max = block // coeffs.EMG_DECIM
    inp = sys.stdin.buffer
    out = sys.stdout
    hdr = array("i", [0])
    raws = [array("i", bytes(4 * block)) for _ in range(nch)]
    imu = [array("i", bytes(4 * m_max)) for _ in range(6)]
    chains = []
    fasts = []
    det = detector.Detector(cfg, nch, coeffs)
    if trace:
        det.trace = []
        det.rtrace = []
    if screen is not None:      # another learned-screen table (a tuple of ints; screen.py)
        from core import screen as SC
        det.screen = SC.table(screen)
    for ch in range(nch):
        c = dspchain.EmgChain(coeffs, block, mains_hz=mains)
        env = array("i", bytes(4 * m_max))
        lf = array("i", bytes(4 * m_max))
        rmin = array("i", bytes(4 * m_max))
        rmax = array("i", bytes(4 * m_max))
        c.bind(raws[ch], env, lf, rmin, rmax)
        f = detector.FastEnv(c)
        det.bind(ch, env, lf, rmin, rmax, f.buf)
        chains.append(c)
        fasts.append(f)
    ichain = dspchain.ImuChain(coeffs, m_max)
    acc = array("i", bytes(4 * m_max))
    gyro = array("i", bytes(4 * m_max))
    jerk = array("i", bytes(4 * m_max))
    ichain.bind(imu[0], imu[1], imu[2], imu[3], imu[4], imu[5], acc, gyro, jerk)
    det.bind_imu(acc, gyro, jerk, imu[0], imu[1], imu[2], imu[3], imu[4], imu[5])
    ne = R.EV_N
    ns = R.SM_N
    t_ms = 0
    blocks = 0
    ticks = 0
    while True:
        if _read_exact(inp, hdr, 4) < 4:
            raise ValueError("replay stream truncated in a block header after %d blocks" % blocks)
        n = hdr[0]
        if n == 0:
            break
        if n < 0 or n > block or n % coeffs.EMG_DECIM:
            raise ValueError("bad block length %d after %d blocks" % (n, blocks))
        m = n // coeffs.EMG_DECIM
        for ch in range(nch):
            if _read_exact(inp, raws[ch], 4 * n) < 4 * n:
                raise ValueError("replay stream truncated in block %d" % blocks)
        for k in range(6):
            if _read_exact(inp, imu[k], 4 * m) < 4 * m:
                raise ValueError("replay stream truncated in block %d (IMU)" % blocks)
        for ch in range(nch):
            chains[ch].run(n)
            fasts[ch].run(m)
        ichain.run(m)
        det.feed(m, t_ms)
        t_ms += n * 1000 // coeffs.FS_HZ
        blocks += 1
        ticks += m
        _drain(out, det, ne, ns)
    det.flush()
    _drain(out, det, ne, ns)
    out.write("D %d %d %d\n" % (blocks, ticks, det.overflow))
