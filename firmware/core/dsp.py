"""Fixed-point DSP kernels (viper): the per-block work of the EMG and IMU chains.

Every kernel works in place or between preallocated ``array('i')`` buffers and allocates
nothing. ``firmware/core/dsp_plain.py`` holds a plain-Python twin of each kernel that gives
identical integers; ``spasmtrack.dsp.golden`` (host, numpy) is the reference both are
tested against, with every intermediate checked against the int32 range.

Integer rules (see ``spasmtrack.dsp.quantize``): no intermediate leaves int32 for inputs
within the front end's full scale, so results are the same on the ESP32 (32-bit viper
words) and on the unix port (64-bit words). Nothing relies on overflow. ``ptr32`` loads
zero-extend on 64-bit ports, so loads of signed words go through ``(v << sx) >> sx`` with
``sx`` = word bits - 32 (0 on the ESP32), passed in each kernel's parameter array.

Viper functions take at most four arguments, hence the small parameter arrays.
"""
import sys

import micropython

#: Sign-extension shift for 32-bit loads: 32 on 64-bit ports, 0 on 32-bit ones.
SX = 32 if sys.maxsize > 0x7FFFFFFF else 0

# Parameter array layouts (array('i')); the chain allocates them once.
# prep:   [n, decim, frac, sx, M]  (stats = [sums | mins | maxs], M words each)
# biquad state: [nsec, sx, (x1, x2, y1, y2, r1, r2) * nsec]  (r: fed-back rounding remainders)
# rect:   [n, decim, shift, sx]
# tkeo state: [n, shift, sum_shift, sx, u1, u2]
# mulshift: [k, s, pre, sx]
# movmean ring: [win, pos, sum, sx, v0 .. v(win-1)]


@micropython.viper
def prep(raw, work, stats, p):
    """One pass over the raw block: work[i] = raw[i] << frac, and per envelope period j
    stats[j] = sum, stats[M + j] = min, stats[2M + j] = max of raw (p = [n, d, frac, sx, M])."""
    r = ptr32(raw)
    w = ptr32(work)
    s = ptr32(stats)
    pp = ptr32(p)
    n = pp[0]
    d = pp[1]
    frac = pp[2]
    sx = pp[3]
    m2 = pp[4]
    m3 = m2 + m2
    i = 0
    j = 0
    while i < n:
        acc = 0
        mn = (r[i] << sx) >> sx
        mx = mn
        e = i + d
        while i < e:
            v = (r[i] << sx) >> sx
            w[i] = v << frac
            acc += v
            if v < mn:
                mn = v
            if v > mx:
                mx = v
            i += 1
        s[j] = acc
        s[m2 + j] = mn
        s[m3 + j] = mx
        j += 1


#: Words per stored section: [b0, b1, b2, na1, na2, q, k, form] (see spasmtrack.dsp.quantize).
SOS_LEN = 8


@micropython.viper
def biquad(buf, n: int, sos, state):
    """Cascade of split-word biquads with error feedback over buf[0:n], in place (see
    spasmtrack.dsp.quantize for the algorithm and its int32 bounds).

    ``form`` 1/2 sections (numerator g(1 -+ 2z^-1 + z^-2)) form v = x0 -+ 2 x1 + x2 first and
    split v: the same integers with two multiplications instead of six."""
    b = ptr32(buf)
    c = ptr32(sos)
    st = ptr32(state)
    nsec = st[0]
    sx = st[1]
    sec = 0
    while sec < nsec:
        o = sec * 8
        b0 = (c[o] << sx) >> sx
        b1 = (c[o + 1] << sx) >> sx
        b2 = (c[o + 2] << sx) >> sx
        na1 = (c[o + 3] << sx) >> sx
        na2 = (c[o + 4] << sx) >> sx
        q = c[o + 5]
        k = c[o + 6]
        form = c[o + 7]
        mask = (1 << k) - 1
        rnd = 1 << (q - 1)
        mq = (1 << q) - 1
        d1 = (na1 + rnd) >> q
        d2 = (na2 + rnd) >> q
        up = k - q
        so = 2 + sec * 6
        x1 = (st[so] << sx) >> sx
        x2 = (st[so + 1] << sx) >> sx
        v = (st[so + 2] << sx) >> sx
        y1h = v >> k
        y1l = v & mask
        v = (st[so + 3] << sx) >> sx
        y2h = v >> k
        y2l = v & mask
        r1 = (st[so + 4] << sx) >> sx
        r2 = (st[so + 5] << sx) >> sx
        i = 0
        if form != 0:
            m2 = -2
            if form == 2:
                m2 = 2
            while i < n:
                x0 = (b[i] << sx) >> sx
                v = x0 + m2 * x1 + x2
                hi = b0 * (v >> k) + na1 * y1h + na2 * y2h
                lo = b0 * (v & mask) + na1 * y1l + na2 * y2l + rnd + d1 * r1 + d2 * r2
                y0 = (hi << up) + (lo >> q)
                b[i] = y0
                r2 = r1
                r1 = (lo & mq) - rnd
                x2 = x1
                x1 = x0
                y2h = y1h
                y2l = y1l
                y1h = y0 >> k
                y1l = y0 & mask
                i += 1
        else:
            x1h = x1 >> k
            x1l = x1 & mask
            x2h = x2 >> k
            x2l = x2 & mask
            while i < n:
                x0 = (b[i] << sx) >> sx
                x0h = x0 >> k
                x0l = x0 & mask
                hi = b0 * x0h + b1 * x1h + b2 * x2h + na1 * y1h + na2 * y2h
                lo = b0 * x0l + b1 * x1l + b2 * x2l + na1 * y1l + na2 * y2l + rnd + d1 * r1 + d2 * r2
                y0 = (hi << up) + (lo >> q)
                b[i] = y0
                r2 = r1
                r1 = (lo & mq) - rnd
                x2h = x1h
                x2l = x1l
                x1h = x0h
                x1l = x0l
                y2h = y1h
                y2l = y1l
                y1h = y0 >> k
                y1l = y0 & mask
                i += 1
            x1 = (x1h << k) + x1l
            x2 = (x2h << k) + x2l
        st[so] = x1
        st[so + 1] = x2
        st[so + 2] = (y1h << k) + y1l
        st[so + 3] = (y2h << k) + y2l
        st[so + 4] = r1
        st[so + 5] = r2
        sec += 1


@micropython.viper
def rect_decim(work, out, p):
    """out[j] = sum over envelope period j of round(|work[i]| / 2**shift)."""
    w = ptr32(work)
    o = ptr32(out)
    pp = ptr32(p)
    n = pp[0]
    d = pp[1]
    sh = pp[2]
    sx = pp[3]
    half = (1 << sh) >> 1
    i = 0
    j = 0
    while i < n:
        acc = 0
        e = i + d
        while i < e:
            v = (w[i] << sx) >> sx
            if v < 0:
                v = 0 - v
            acc += (v + half) >> sh
            i += 1
        o[j] = acc
        j += 1


@micropython.viper
def tkeo(work, p):
    """work[i] <- |u[i-1]^2 - u[i]*u[i-2]| >> sum_shift with u = clamp(work >> shift, +-32767).

    The Teager-Kaiser energy of the band-passed signal, one sample late (causal)."""
    w = ptr32(work)
    pp = ptr32(p)
    n = pp[0]
    sh = pp[1]
    ssh = pp[2]
    sx = pp[3]
    u1 = (pp[4] << sx) >> sx
    u2 = (pp[5] << sx) >> sx
    i = 0
    while i < n:
        u0 = ((w[i] << sx) >> sx) >> sh
        if u0 > 32767:
            u0 = 32767
        elif u0 < -32767:
            u0 = -32767
        psi = u1 * u1 - u0 * u2
        if psi < 0:
            psi = 0 - psi
        w[i] = psi >> ssh
        u2 = u1
        u1 = u0
        i += 1
    pp[4] = u1
    pp[5] = u2


@micropython.viper
def mulshift(buf, n: int, p):
    """buf[i] = round((buf[i] << pre) * k / 2**s) (halves up), exact with 15-bit halves of
    the product (k < 2**15, s >= 15)."""
    b = ptr32(buf)
    pp = ptr32(p)
    k = pp[0]
    s = pp[1] - 15
    pre = pp[2]
    sx = pp[3]
    half = (1 << s) >> 1
    i = 0
    while i < n:
        a = ((b[i] << sx) >> sx) << pre
        t = (a >> 15) * k + (((a & 0x7FFF) * k) >> 15)
        b[i] = (t + half) >> s
        i += 1


@micropython.viper
def shl(buf, n: int, sh: int):
    """buf[i] <<= sh (in place)."""
    b = ptr32(buf)
    i = 0
    while i < n:
        b[i] = b[i] << sh
        i += 1


@micropython.viper
def abs_shr(buf, n: int, p):
    """buf[i] = |buf[i]| >> p[0] (p = [shift, sx])."""
    b = ptr32(buf)
    pp = ptr32(p)
    sh = pp[0]
    sx = pp[1]
    i = 0
    while i < n:
        v = (b[i] << sx) >> sx
        if v < 0:
            v = 0 - v
        b[i] = v >> sh
        i += 1


@micropython.viper
def sar(buf, n: int, p):
    """buf[i] = buf[i] >> p[0], arithmetic (floor) shift of signed words (p = [shift, sx])."""
    b = ptr32(buf)
    pp = ptr32(p)
    sh = pp[0]
    sx = pp[1]
    i = 0
    while i < n:
        b[i] = ((b[i] << sx) >> sx) >> sh
        i += 1


@micropython.viper
def clamp_low0(buf, n: int, p):
    """buf[i] = max(buf[i] >> p[0], 0) (p = [shift, sx])."""
    b = ptr32(buf)
    pp = ptr32(p)
    sh = pp[0]
    sx = pp[1]
    i = 0
    while i < n:
        v = ((b[i] << sx) >> sx) >> sh
        if v < 0:
            v = 0
        b[i] = v
        i += 1


@micropython.viper
def movmean(buf, n: int, ring):
    """buf[i] = mean of the last win inputs (rounded), in place; ring = [win, pos, sum, sx, v...]."""
    b = ptr32(buf)
    r = ptr32(ring)
    win = r[0]
    pos = r[1]
    sx = r[3]
    acc = (r[2] << sx) >> sx
    half = win >> 1
    i = 0
    while i < n:
        v = (b[i] << sx) >> sx
        old = (r[4 + pos] << sx) >> sx
        r[4 + pos] = v
        acc += v - old
        pos += 1
        if pos == win:
            pos = 0
        b[i] = (acc + half) // win
        i += 1
    r[1] = pos
    r[2] = acc


@micropython.viper
def isqrt(buf, n: int):
    """buf[i] = floor(sqrt(buf[i])) for 0 <= buf[i] < 2**31 (bit by bit)."""
    b = ptr32(buf)
    i = 0
    while i < n:
        v = b[i]
        res = 0
        bit = 1
        bit <<= 30          # at run time: 1 << 30 is not a small int on 32-bit ports
        while bit > v:
            bit >>= 2
        while bit != 0:
            if v >= res + bit:
                v -= res + bit
                res = (res >> 1) + bit
            else:
                res >>= 1
            bit >>= 2
        b[i] = res
        i += 1


@micropython.viper
def sumsq3(x, y, z, p):
    """x[i] = cx^2 + cy^2 + cz^2 with c = clamp(v, +-lim); p = [n, lim, sx]. With
    ``isqrt`` after it, the vector magnitude (lim <= 26754 keeps the sum inside int31)."""
    a = ptr32(x)
    bb = ptr32(y)
    c = ptr32(z)
    pp = ptr32(p)
    n = pp[0]
    lim = pp[1]
    sx = pp[2]
    i = 0
    while i < n:
        u = (a[i] << sx) >> sx
        if u > lim:
            u = lim
        elif u < 0 - lim:
            u = 0 - lim
        w = (bb[i] << sx) >> sx
        if w > lim:
            w = lim
        elif w < 0 - lim:
            w = 0 - lim
        t = (c[i] << sx) >> sx
        if t > lim:
            t = lim
        elif t < 0 - lim:
            t = 0 - lim
        a[i] = u * u + w * w + t * t
        i += 1


@micropython.viper
def diff(buf, n: int, p):
    """buf[i] = buf[i] - previous (p = [previous, primed, sx]); the first ever sample gives 0."""
    b = ptr32(buf)
    pp = ptr32(p)
    sx = pp[2]
    prev = (pp[0] << sx) >> sx
    if pp[1] == 0 and n > 0:
        prev = (b[0] << sx) >> sx
        pp[1] = 1
    i = 0
    while i < n:
        v = (b[i] << sx) >> sx
        b[i] = v - prev
        prev = v
        i += 1
    pp[0] = prev


@micropython.viper
def scale(buf, n: int, m: int):
    """buf[i] *= m (small non-negative m)."""
    b = ptr32(buf)
    i = 0
    while i < n:
        b[i] = b[i] * m
        i += 1


@micropython.viper
def copy(src, dst, n: int):
    s = ptr32(src)
    d = ptr32(dst)
    i = 0
    while i < n:
        d[i] = s[i]
        i += 1
