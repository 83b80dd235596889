"""Device runtime benchmarks: ISR cost per sample on the unix port, deployed size per board,
heap of the firmware's objects.

The ISR figures run ``sampler.EmgSampler.irq`` in the real MicroPython unix port:
(a) with a source that only stores a counter (the sampler's own cost), (b) with the real
ADS1292R driver against the register-level simulator, minus the time spent inside the
simulated part (``simhw.clock.sim_us``: the SPI transfer itself, which is hardware on a
board). On an ESP32 expect roughly 20-40x the unix-port time (see ARCHITECTURE.md).
"""
from __future__ import annotations

import json
import subprocess

from . import BenchFigure
from .. import BOARDS_DIR, REPO_ROOT, firmware
from ..mpybuild import build

_SCRIPT = r"""
import gc, time, json
import simhw, machine, sources
from device.sampler import EmgSampler
from drivers import ads1292r
N = 20000

class Counter:
    def __init__(self):
        self.k = 0
    def sample_into(self, a0, a1, i):
        self.k += 1
        a0[i] = self.k
        a1[i] = self.k
        return 0

t = [0]
def ticks():
    t[0] += 1000
    return t[0]

def own(s, n):
    gc.collect()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for _ in range(n):
        s.irq(None)
    us = time.ticks_diff(time.ticks_us(), t0)
    return us, gc.mem_alloc() - a0

s = EmgSampler(Counter(), 2, 1000, 100, 8, ticks)
s.irq(None)
own_us, own_alloc = own(s, N)

simhw.setup(None, sources.Sine(50, 500.0))
b = simhw.board
spi = machine.SPI(1, baudrate=2000000, polarity=0, phase=1)
cs = machine.Pin(b["pins"]["emg_cs"], machine.Pin.OUT, value=1)
drdy = machine.Pin(b["pins"]["emg_drdy"], machine.Pin.IN)
d = ads1292r.ADS1292R(spi, cs, drdy).init(rate_hz=1000, gain=6)
s2 = EmgSampler(d, 2, 1000, 100, 8, simhw.clock.ticks_us)
d.start()
simhw.clock.advance(10000)
M = 5000
simhw.clock.sim_us = 0
t0 = time.ticks_us()
for _ in range(M):
    s2.irq(None)
tot_us = time.ticks_diff(time.ticks_us(), t0)
ads_sim = simhw.clock.sim_us

# per-block pipeline (chains, IMU FIFO drain, detector) on 100-sample blocks
import coeffs
from device.app import App
from drivers import mpu6050
simhw.setup(None, sources.Sine(50, 500.0))
spi = machine.SPI(1, baudrate=2000000, polarity=0, phase=1)
cs = machine.Pin(b["pins"]["emg_cs"], machine.Pin.OUT, value=1)
drdy = machine.Pin(b["pins"]["emg_drdy"], machine.Pin.IN)
d = ads1292r.ADS1292R(spi, cs, drdy).init(rate_hz=1000, gain=6)
imu = mpu6050.MPU6050(machine.I2C(0)).init(rate_hz=100)
a = App(coeffs, d, 2, imu, 100, 100, log=None, ticks_us=simhw.clock.ticks_us)
drdy.irq(a.sampler.irq, machine.Pin.IRQ_FALLING)
imu.start()
d.start()
simhw.clock.advance(500000)
a.process()
K = 50
busy = 0
for _ in range(K):
    simhw.clock.advance(100000)
    s0 = simhw.clock.sim_us
    t0 = time.ticks_us()
    a.process()
    busy += time.ticks_diff(time.ticks_us(), t0) - (simhw.clock.sim_us - s0)
print(json.dumps({"own_ns": own_us * 1000 // N, "own_alloc": own_alloc,
                  "ads_total_ns": tot_us * 1000 // M, "ads_sim_ns": ads_sim * 1000 // M,
                  "block_us": busy // K}))
"""


def measure() -> dict:
    """ISR and per-block costs on the unix port (ns per sample, us per 100 ms block)."""
    return _isr()


def _isr() -> dict:
    proc = subprocess.run(firmware.unix_command("-c", _SCRIPT), capture_output=True, text=True,
                          env=firmware.unix_env(), timeout=300, cwd=str(REPO_ROOT))
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> list[BenchFigure]:
    r = _isr()
    figs = [
        BenchFigure("isr_sampler_ns_per_sample", r["own_ns"], "ns/sample",
                    note="EmgSampler.irq with a counter source, unix port"),
        BenchFigure("isr_alloc_bytes_per_20k_samples", r["own_alloc"], "bytes", "== 0",
                    note="gc.mem_alloc() change over 20,000 interrupts"),
        BenchFigure("isr_ads1292r_ns_per_sample", r["ads_total_ns"] - r["ads_sim_ns"], "ns/sample",
                    note="EmgSampler.irq + ADS1292R.sample_into (CS, 9-byte readinto, decode), "
                         "minus the time inside the simulated SPI part",
                    extra={"with_simulator_ns": r["ads_total_ns"], "simulator_ns": r["ads_sim_ns"]}),
        BenchFigure("block_pipeline_us_per_100ms", r["block_us"], "us/block",
                    note="App.process per 100-sample block (2 EMG chains, IMU FIFO drain + "
                         "chain, detector), simulator time excluded, unix port"),
    ]
    for name in sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.json")):
        res = build(name, REPO_ROOT / "build" / "bench-mpy")
        figs.append(BenchFigure(f"deployed_bytes_{name}", res.total_bytes, "bytes",
                                note=f"{len(res.files)} files, mpy-cross -march={res.arch}"))
    return figs
