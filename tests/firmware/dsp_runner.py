"""Runs the firmware's DSP chains on a binary file of raw counts (used by host tests and
the benchmark through ``micropython -c``).

Input: little-endian int32 samples. EMG output: env, lf, rmin, rmax, fast (each m int32) for the
whole signal, written one after another. IMU input: n rows of ax ay az gx gy gz (int32);
output acc, gyro, jerk.
"""
import sys
from array import array

from core import dspchain


def _load_coeffs(board_dir):
    sys.path.insert(0, board_dir)
    try:
        if "coeffs" in sys.modules:
            del sys.modules["coeffs"]
        import coeffs
    finally:
        sys.path.pop(0)
    return coeffs


def _kernels(name):
    if name == "plain":
        from core import dsp_plain
        return dsp_plain
    from core import dsp
    return dsp


def run_emg(board_dir, path_in, path_out, block_len=100, mains_hz=0, env_mode="arv", kernels="viper"):
    c = _load_coeffs(board_dir)
    with open(path_in, "rb") as f:
        data = f.read()
    raw_all = array("i", data)
    n_total = (len(raw_all) // block_len) * block_len
    chain = dspchain.EmgChain(c, block_len, mains_hz, env_mode, _kernels(kernels))
    m_blk = block_len // c.EMG_DECIM
    raw = array("i", bytes(4 * block_len))
    env = array("i", bytes(4 * m_blk))
    lf = array("i", bytes(4 * m_blk))
    rmin = array("i", bytes(4 * m_blk))
    rmax = array("i", bytes(4 * m_blk))
    fast = array("i", bytes(4 * m_blk))
    chain.bind(raw, env, lf, rmin, rmax, fast)
    m_total = n_total // c.EMG_DECIM
    outs = [array("i", bytes(4 * m_total)) for _ in range(5)]
    mv_raw = memoryview(raw)
    pos = 0
    o = 0
    while pos < n_total:
        mv_raw[:] = memoryview(raw_all)[pos:pos + block_len]
        m = chain.run(block_len)
        for j, src in enumerate((env, lf, rmin, rmax, fast)):
            memoryview(outs[j])[o:o + m] = memoryview(src)[:m]
        pos += block_len
        o += m
    with open(path_out, "wb") as f:
        for a in outs:
            f.write(a)


def run_imu(board_dir, path_in, path_out, block_len=10, kernels="viper"):
    c = _load_coeffs(board_dir)
    with open(path_in, "rb") as f:
        rows = array("i", f.read())
    n_total = (len(rows) // 6 // block_len) * block_len
    chain = dspchain.ImuChain(c, block_len, _kernels(kernels))
    ins = [array("i", bytes(4 * block_len)) for _ in range(6)]
    outs_blk = [array("i", bytes(4 * block_len)) for _ in range(3)]
    chain.bind(*(ins + outs_blk))
    outs = [array("i", bytes(4 * n_total)) for _ in range(3)]
    pos = 0
    while pos < n_total:
        for i in range(block_len):
            for a in range(6):
                ins[a][i] = rows[6 * (pos + i) + a]
        chain.run(block_len)
        for j in range(3):
            memoryview(outs[j])[pos:pos + block_len] = memoryview(outs_blk[j])[:block_len]
        pos += block_len
    with open(path_out, "wb") as f:
        for a in outs:
            f.write(a)
