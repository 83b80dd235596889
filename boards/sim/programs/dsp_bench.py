"""MicroPython side of ``bench/dsp.py``: times the firmware's chains on a raw-count file.

Prints one JSON object. Run by the benchmark as
``micropython -c "import dsp_bench; dsp_bench.main(BOARD_DIR, RAW, OUT, BLOCK)"``."""
import gc
import json
import sys
import time
from array import array

from core import dspchain


def _coeffs(board_dir):
    sys.path.insert(0, board_dir)
    import coeffs
    sys.path.pop(0)
    return coeffs


def _i32(n):
    return array("i", bytes(4 * n))


def _time_chain(c, raw_path, n_total, block, mains, mode, out_path=None):
    """ns per sample of chain.run and heap growth per block; blocks are streamed from the
    file with readinto (outside the timed region) so any recording length fits in 96 KB."""
    chain = dspchain.EmgChain(c, block, mains, mode)
    m = block // c.EMG_DECIM
    raw = _i32(block)
    bufs = (_i32(m), _i32(m), _i32(m), _i32(m))
    chain.bind(raw, *bufs)
    run = chain.run
    f = open(raw_path, "rb")
    out = open(out_path, "wb") if out_path else None
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t_chain = 0
    pos = 0
    while pos < n_total:
        f.readinto(raw)                        # the sampler's ring hands over a block
        t0 = time.ticks_us()
        run(block)
        t_chain += time.ticks_diff(time.ticks_us(), t0)
        if out is not None:
            out.write(bufs[0])
            out.write(bufs[1])
            out.write(bufs[2])
            out.write(bufs[3])
        pos += block
    alloc = gc.mem_alloc() - a0
    gc.enable()
    f.close()
    if out is not None:
        out.close()
    return t_chain * 1000 / n_total, alloc / (n_total // block), chain.mains_now


def _time_float(c, raw_path, n_float, block):
    """The float twin allocates a boxed float per operation, so it runs with the GC on (its
    collections are part of its cost); its allocation is measured on one block, GC off."""
    import float_chain
    small = 2 * c.EMG_DECIM                  # a whole 100-sample block would not fit in the heap
    ch = float_chain.FloatEmgChain(c, small)
    part = _i32(small)
    f = open(raw_path, "rb")
    f.readinto(part)
    ch.run(part, small)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    ch.run(part, small)
    alloc = (gc.mem_alloc() - a0) * block // small
    gc.enable()
    gc.collect()
    f.seek(0)
    ch = float_chain.FloatEmgChain(c, block)
    raw = _i32(block)
    best = None
    for _ in range(3):                       # best of three passes, as for the viper chain
        f.seek(0)
        t = 0
        pos = 0
        while pos < n_float:
            f.readinto(raw)
            t0 = time.ticks_us()
            ch.run(raw, block)
            t += time.ticks_diff(time.ticks_us(), t0)
            pos += block
        best = t if best is None or t < best else best
    f.close()
    return best * 1000 / n_float, alloc, ch.env[len(ch.env) - 1]


def main(board_dir, raw_path, out_path, block, n_total, nohum_path=None, hum_path=None):
    c = _coeffs(board_dir)
    n_total = (n_total // block) * block
    res = {"n_samples": n_total, "block": block}
    best = None
    for i in range(5):                       # best of five passes
        ns, alloc, _ = _time_chain(c, raw_path, n_total, block, 0, "arv", out_path if i == 0 else None)
        best = ns if best is None or ns < best else best
    res["viper_arv_ns"] = best
    res["viper_alloc_per_block"] = alloc
    for mode, mains in (("lp", 0), ("tkeo", 0), ("arv", 50)):
        ns, a, _ = _time_chain(c, raw_path, n_total, block, mains, mode)
        res["viper_%s_mains%d_ns" % (mode, mains)] = ns
        res["alloc_%s_mains%d" % (mode, mains)] = a
    # the automatic mains notch (dspchain.MAINS_AUTO) without hum (notch out) and on the same
    # recording with hum added (notch in from the first second): best of three passes each
    for label, path in (("nohum", nohum_path), ("hum", hum_path)):
        if path is None:
            continue
        best = None
        for _ in range(3):
            ns, a, hz = _time_chain(c, path, n_total, block, dspchain.MAINS_AUTO, "arv")
            best = ns if best is None or ns < best else best
        res["viper_arv_auto_%s_ns" % label] = best
        res["alloc_arv_auto_%s" % label] = a
        res["auto_%s_mains_at_end" % label] = hz
    n_float = min(n_total, 10000)
    fns, falloc, last = _time_float(c, raw_path, n_float, block)
    res["float_ns"] = fns
    res["float_alloc_per_block"] = falloc
    res["float_last_env_uv"] = last
    print(json.dumps(res))
