"""A straightforward float MicroPython version of the EMG chain (mode "arv", no notch):
the comparison point for the benchmark's ``dsp_speedup_vs_float_twin``. Same filters (the
quantized sections converted back to floats), same stages, plain loops over array('f')."""
from array import array


class FloatEmgChain:
    def __init__(self, coeffs, block_len):
        self.d = coeffs.EMG_DECIM
        self.uv = coeffs.UV_PER_COUNT
        self.bp = self._float_sos(coeffs.BP_SOS)
        self.lf_sos = self._float_sos(coeffs.LF_SOS)
        self.bp_state = [[0.0] * 4 for _ in self.bp]
        self.lf_state = [[0.0] * 4 for _ in self.lf_sos]
        self.win = coeffs.ENV_WIN
        self.env_ring = [0.0] * self.win
        self.lf_ring = [0.0] * self.win
        self.pos = 0
        self.work = array("f", [0.0] * block_len)
        m = block_len // self.d
        self.env = array("f", [0.0] * m)
        self.lf = array("f", [0.0] * m)
        self.rmin = array("i", [0] * m)
        self.rmax = array("i", [0] * m)
        self.primed = False

    @staticmethod
    def _float_sos(flat):
        out = []
        for i in range(len(flat) // 8):
            b0, b1, b2, na1, na2, q, k = flat[8 * i:8 * i + 7]
            s = 2.0 ** q
            out.append((b0 / s, b1 / s, b2 / s, na1 / s, na2 / s))
        return out

    @staticmethod
    def _biquads(buf, n, sos, states):
        for c, st in zip(sos, states):
            b0, b1, b2, na1, na2 = c
            x1, x2, y1, y2 = st
            for i in range(n):
                x0 = buf[i]
                y0 = b0 * x0 + b1 * x1 + b2 * x2 + na1 * y1 + na2 * y2
                buf[i] = y0
                x2, x1, y2, y1 = x1, x0, y1, y0
            st[0], st[1], st[2], st[3] = x1, x2, y1, y2

    def run(self, raw, n):
        d = self.d
        uv = self.uv
        w = self.work
        if not self.primed:
            self.bp_state[0][0] = self.bp_state[0][1] = raw[0] * uv
            self.primed = True
        m = n // d
        for j in range(m):
            s = 0.0
            lo = hi = raw[j * d]
            for i in range(j * d, j * d + d):
                v = raw[i]
                w[i] = v * uv
                s += v * uv
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
            self.lf[j] = s / d
            self.rmin[j] = lo
            self.rmax[j] = hi
        self._biquads(w, n, self.bp, self.bp_state)
        self._biquads(self.lf, m, self.lf_sos, self.lf_state)
        for j in range(m):
            s = 0.0
            for i in range(j * d, j * d + d):
                s += abs(w[i])
            self.env_ring[self.pos] = s / d
            self.lf_ring[self.pos] = abs(self.lf[j])
            self.pos = (self.pos + 1) % self.win
            self.env[j] = sum(self.env_ring) / self.win
            self.lf[j] = sum(self.lf_ring) / self.win
        return m
