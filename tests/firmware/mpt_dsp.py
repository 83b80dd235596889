# mpy-heapsize: 96K
"""DSP chains on the MicroPython unix port: zero allocation per block, viper == plain twin
on the IMU chain, and configuration-time errors for bad buffers and options."""
import gc
from array import array

import coeffs
from core import dsp
from core import dsp_plain
from core import dspchain
from mpunit import raises

BLOCK = 100


def _i32(n):
    return array("i", bytes(4 * n))


def _emg_buffers(block=BLOCK):
    m = block // coeffs.EMG_DECIM
    return _i32(block), _i32(m), _i32(m), _i32(m), _i32(m)


def _fill(raw, seed):
    # deterministic pseudo-EMG: LCG noise plus an electrode offset, within the ADC range
    x = seed
    for i in range(len(raw)):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        raw[i] = ((x >> 8) & 0xFFFF) - 32768 + 150000
    return x


def _alloc_over_blocks(run, blocks):
    run()                     # first block primes state (config-time work is done)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(blocks):
            run()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def test_emg_chain_allocates_nothing_per_block_in_every_mode():
    for mode in ("arv", "lp", "tkeo"):
        for mains in (0, 50):
            raw, env, lf, rmin, rmax = _emg_buffers()
            _fill(raw, 1)
            chain = dspchain.EmgChain(coeffs, BLOCK, mains, mode)
            chain.bind(raw, env, lf, rmin, rmax, _i32(BLOCK // coeffs.EMG_DECIM))
            grown = _alloc_over_blocks(lambda: chain.run(BLOCK), 200)
            assert grown == 0, "%s/%d: %d bytes allocated over 200 blocks" % (mode, mains, grown)
            assert env[0] > 0


def test_emg_process_with_bound_buffers_allocates_nothing():
    raw, env, lf, rmin, rmax = _emg_buffers()
    _fill(raw, 2)
    chain = dspchain.EmgChain(coeffs, BLOCK)
    grown = _alloc_over_blocks(lambda: chain.process(raw, BLOCK, env, lf, rmin, rmax), 100)
    assert grown == 0, grown


def test_imu_chain_allocates_nothing_per_block():
    n = 10
    bufs = [_i32(n) for _ in range(9)]
    for i in range(n):
        bufs[2][i] = 4096
        bufs[0][i] = 300 * (i - 5)
        bufs[3][i] = 1000
    chain = dspchain.ImuChain(coeffs, n)
    chain.bind(*bufs)
    grown = _alloc_over_blocks(lambda: chain.run(n), 200)
    assert grown == 0, grown


def test_imu_viper_and_plain_twin_agree():
    n = 10
    outs = []
    gc.collect()
    for k in (dsp, dsp_plain):
        bufs = [_i32(n) for _ in range(9)]
        chain = dspchain.ImuChain(coeffs, n, k)
        chain.bind(*bufs)
        seed = 5
        res = _i32(30 * 3 * n)
        for blk in range(30):
            for a in range(6):
                for i in range(n):
                    seed = (1103515245 * seed + 12345) & 0x7FFFFFFF
                    bufs[a][i] = ((seed >> 8) & 0xFFFF) - 32768
            chain.run(n)
            for j in range(3):
                for i in range(n):
                    res[(blk * 3 + j) * n + i] = bufs[6 + j][i]
        outs.append(res)
    assert outs[0] == outs[1]


def test_bad_buffers_are_refused_when_bound():
    raw, env, lf, rmin, rmax = _emg_buffers()
    chain = dspchain.EmgChain(coeffs, BLOCK)
    with raises(dspchain.ConfigError, "raw must be array('i')"):
        chain.bind(array("h", bytes(2 * BLOCK)), env, lf, rmin, rmax)
    with raises(dspchain.ConfigError, "env must be array('i')"):
        chain.bind(raw, array("f", [0.0] * 10), lf, rmin, rmax)
    with raises(dspchain.ConfigError, "env must be array('i')"):
        chain.bind(raw, array("I", bytes(40)), lf, rmin, rmax)
    with raises(dspchain.ConfigError, "raw must be array('i')"):
        chain.bind(list(range(BLOCK)), env, lf, rmin, rmax)
    with raises(dspchain.ConfigError, "holds 50 items, needs at least 100"):
        chain.bind(_i32(50), env, lf, rmin, rmax)
    with raises(dspchain.ConfigError, "rmax holds 5 items"):
        chain.bind(raw, env, lf, rmin, _i32(5))
    with raises(dspchain.ConfigError, "fast must be array('i')"):
        chain.bind(raw, env, lf, rmin, rmax, array("h", bytes(20)))


def test_bad_options_are_refused_at_construction():
    with raises(dspchain.ConfigError, "multiple of EMG_DECIM"):
        dspchain.EmgChain(coeffs, 105)
    with raises(dspchain.ConfigError, "multiple of EMG_DECIM"):
        dspchain.EmgChain(coeffs, 0)
    with raises(dspchain.ConfigError, "mains_hz must be 0 (off), 50, 60 or -1 (auto)"):
        dspchain.EmgChain(coeffs, BLOCK, mains_hz=55)
    with raises(dspchain.ConfigError, "env_mode must be one of"):
        dspchain.EmgChain(coeffs, BLOCK, env_mode="rms2")
    with raises(dspchain.ConfigError, "block_len"):
        dspchain.ImuChain(coeffs, -1)


def test_coefficients_missing_a_name_are_refused():
    class Partial:
        COEFFS_LAYOUT = 2
        FS_HZ = 1000
    with raises(dspchain.ConfigError, "lacks EMG_DECIM"):
        dspchain.EmgChain(Partial, BLOCK)


def test_coefficients_of_another_layout_are_refused():
    class Old:
        pass
    for name in dir(coeffs):
        if not name.startswith("_"):
            setattr(Old, name, getattr(coeffs, name))
    Old.COEFFS_LAYOUT = 1
    with raises(dspchain.ConfigError, "coefficients layout 1, firmware needs 2"):
        dspchain.EmgChain(Old, BLOCK)
    Old.COEFFS_LAYOUT = 2
    Old.BP_SOS = array("i", list(coeffs.BP_SOS)[:-1])
    with raises(dspchain.ConfigError, "BP_SOS must be array('i') of 8-word sections"):
        dspchain.EmgChain(Old, BLOCK)
    bad = array("i", coeffs.BP_SOS)
    bad[7] = 5
    Old.BP_SOS = bad
    with raises(dspchain.ConfigError, "BP_SOS section 0 has invalid"):
        dspchain.EmgChain(Old, BLOCK)


def test_run_rejects_a_block_longer_than_configured():
    raw, env, lf, rmin, rmax = _emg_buffers()
    chain = dspchain.EmgChain(coeffs, BLOCK)
    chain.bind(raw, env, lf, rmin, rmax)
    with raises(ValueError, "multiple of 10 up to 100"):
        chain.run(110)
    with raises(ValueError, "multiple of 10"):
        chain.run(15)
    assert chain.run(0) == 0
    assert chain.run(50) == 5
