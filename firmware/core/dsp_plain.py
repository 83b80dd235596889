"""Plain-Python twins of the viper kernels in ``dsp.py``: same signatures, same integers.

Readable reference for the firmware developer and the cross-check for the viper code (the
tests run both on MicroPython and compare). Too slow for the device's per-sample path.
"""
from array import array

SX = 0  # plain ints are already signed
SOS_LEN = 8


def prep(raw, work, stats, p):
    n, d, frac, big_m = p[0], p[1], p[2], p[4]
    for j in range(n // d):
        seg = raw[j * d:j * d + d]
        for i in range(j * d, j * d + d):
            work[i] = raw[i] << frac
        stats[j] = sum(seg)
        stats[big_m + j] = min(seg)
        stats[2 * big_m + j] = max(seg)


def biquad(buf, n, sos, state):
    for sec in range(state[0]):
        # the form word (sos[sec * 8 + 7]) only selects a faster route in dsp.py to the
        # same integers; the readable twin always takes the general one
        b0, b1, b2, na1, na2, q, k = sos[sec * SOS_LEN:sec * SOS_LEN + 7]
        mask = (1 << k) - 1
        rnd = 1 << (q - 1)
        d1, d2 = (na1 + rnd) >> q, (na2 + rnd) >> q      # error-feedback integers
        so = 2 + sec * 6
        x1, x2, y1, y2, r1, r2 = state[so:so + 6]
        for i in range(n):
            x0 = buf[i]
            hi = (b0 * (x0 >> k) + b1 * (x1 >> k) + b2 * (x2 >> k)
                  + na1 * (y1 >> k) + na2 * (y2 >> k))
            lo = (b0 * (x0 & mask) + b1 * (x1 & mask) + b2 * (x2 & mask)
                  + na1 * (y1 & mask) + na2 * (y2 & mask) + rnd + d1 * r1 + d2 * r2)
            y0 = (hi << (k - q)) + (lo >> q)
            buf[i] = y0
            x2, x1 = x1, x0
            y2, y1 = y1, y0
            r2, r1 = r1, (lo & ((1 << q) - 1)) - rnd
        state[so:so + 6] = array("i", [x1, x2, y1, y2, r1, r2])


def rect_decim(work, out, p):
    n, d, sh = p[0], p[1], p[2]
    for j in range(n // d):
        half = (1 << sh) >> 1
        out[j] = sum((abs(work[i]) + half) >> sh for i in range(j * d, j * d + d))


def tkeo(work, p):
    n, sh, ssh = p[0], p[1], p[2]
    u1, u2 = p[4], p[5]
    for i in range(n):
        u0 = max(-32767, min(32767, work[i] >> sh))
        work[i] = abs(u1 * u1 - u0 * u2) >> ssh
        u2, u1 = u1, u0
    p[4], p[5] = u1, u2


def mulshift(buf, n, p):
    k, s, pre = p[0], p[1], p[2]
    for i in range(n):
        a = buf[i] << pre
        t = (a >> 15) * k + (((a & 0x7FFF) * k) >> 15)
        buf[i] = (t + ((1 << (s - 15)) >> 1)) >> (s - 15)


def shl(buf, n, sh):
    for i in range(n):
        buf[i] = buf[i] << sh


def abs_shr(buf, n, p):
    for i in range(n):
        buf[i] = abs(buf[i]) >> p[0]


def sar(buf, n, p):
    for i in range(n):
        buf[i] = buf[i] >> p[0]


def clamp_low0(buf, n, p):
    for i in range(n):
        buf[i] = max(buf[i] >> p[0], 0)


def movmean(buf, n, ring):
    win, pos, acc = ring[0], ring[1], ring[2]
    for i in range(n):
        v = buf[i]
        acc += v - ring[4 + pos]
        ring[4 + pos] = v
        pos = (pos + 1) % win
        buf[i] = (acc + win // 2) // win
    ring[1], ring[2] = pos, acc


def _isqrt(v):
    res, bit = 0, 1 << 30
    while bit > v:
        bit >>= 2
    while bit:
        if v >= res + bit:
            v -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    return res


def isqrt(buf, n):
    for i in range(n):
        buf[i] = _isqrt(buf[i])


def sumsq3(x, y, z, p):
    n, lim = p[0], p[1]
    for i in range(n):
        u = max(-lim, min(lim, x[i]))
        w = max(-lim, min(lim, y[i]))
        t = max(-lim, min(lim, z[i]))
        x[i] = u * u + w * w + t * t


def diff(buf, n, p):
    prev = p[0]
    if p[1] == 0 and n > 0:
        prev = buf[0]
        p[1] = 1
    for i in range(n):
        v = buf[i]
        buf[i] = v - prev
        prev = v
    p[0] = prev


def scale(buf, n, m):
    for i in range(n):
        buf[i] = buf[i] * m


def copy(src, dst, n):
    for i in range(n):
        dst[i] = src[i]
