"""firmware/core/flashlog.py and boards/sim/flash_storage.py also run on CPython (the demo and host
tools use them there): same behaviour, and a byte-identical flash image to MicroPython's."""
from __future__ import annotations

from types import ModuleType

from mpy_plugin import run_micropython
from spasmtrack import firmware
from spasmtrack import records as R


FL = firmware.core("flashlog")
FS: ModuleType = firmware.board_module("sim", "flash_storage")

# the same scenario as code for both interpreters: appends over a rotation, an ack, a torn write,
# a flipped bit in the newest sector's header
SCENARIO = """
def scenario(R, FlashLog, RamFlash, PowerLoss):
    fl = RamFlash(256, 8)
    log = FlashLog(fl)
    log.append(R.TYPE_BOOT, (1, R.RESET_POWER_ON, 0x0100, 2, 0x1234))
    for i in range(1, 30):
        log.append(R.TYPE_EVENT, (1, 1000 * i, 700, 1, 0, 0, 5000 + i, 2000, 4000, 0, 300, 120, 0xFFFF, 2))
        if i == 7:
            log.ack(5)
        if i % 5 == 0:
            log.append(R.TYPE_SUMMARY, (1, 300000 * i, 300, 2, 0, 35, 0, 2950, 50, 0, i, 1, 420, 80, 2))
    fl.power_budget = 23
    try:
        log.append(R.TYPE_EVENT, (1, 99, 700, 1, 0, 0, 1, 2, 3, 0, 0, 0, 0, 2))
    except PowerLoss:
        pass
    fl.power_budget = None
    log = FlashLog(fl)
    torn = log.torn_bytes
    seq = log.append(R.TYPE_MARK, (1, 123456, R.MARK_DOSE_TAKEN))
    log.append(R.TYPE_EVENT, (1, 77, 700, 1, 0, 0, 1, 2, 3, 0, 0, 0, 0, 2))
    fl.image[(2 + log._head) * 256 + 5] ^= 0x10
    log = FlashLog(fl)
    seq = log.append(R.TYPE_MARK, (1, 123999, R.MARK_FELT_SPASM))
    return fl, log, seq, torn
"""


def _cpython_run():
    ns: dict = {}
    exec(SCENARIO, ns)
    return ns["scenario"](R.fw, FL.FlashLog, FS.RamFlash, FS.PowerLoss)


def test_flashlog_on_cpython_recovers_and_rotates() -> None:
    fl, log, seq, torn = _cpython_run()
    assert torn == 23
    assert seq == log.last_seq
    buf = bytearray(R.MAX_FRAME)
    recs = [R.decode_frame(bytes(buf[:n])) for n in log.read_from(0, buf)]
    seqs = [r.seq for r in recs]
    assert seqs == sorted(seqs) and seqs[-1] == seq
    losses = [r for r in recs if r.type_name == "LOSS"]
    rotation = [r for r in losses if r["reason"] == R.LOSS_ROTATION]
    assert rotation and all(r["first_seq"] == 6 for r in rotation)  # acked 5
    corrupt = [r for r in losses if r["reason"] == R.LOSS_CORRUPT_SECTOR]
    assert len(corrupt) == 1 and log.corrupt_sectors == 1           # the flipped header bit
    assert corrupt[0]["last_seq"] == seq - 2 and seq - 2 not in seqs  # ..and the seqs go on
    missing = set(range(1, seq + 1)) - set(seqs)
    assert missing and all(6 <= s <= max(r["last_seq"] for r in losses) or s <= 5 for s in missing)


def test_flash_image_is_byte_identical_on_micropython_and_cpython() -> None:
    fl, log, seq, torn = _cpython_run()
    code = ("from core.flashlog import FlashLog\n"
            "from core import records as R\nimport binascii\n"
            "from flash_storage import RamFlash, PowerLoss\n"
            + SCENARIO +
            "fl, log, seq, torn = scenario(R, FlashLog, RamFlash, PowerLoss)\n"
            "print(seq, log.last_seq, log.acked_seq, torn)\n"
            "print(binascii.hexlify(fl.image).decode())\n")
    proc = run_micropython(code, "96K")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head, image = proc.stdout.split()[:4], proc.stdout.split()[4]
    assert [int(x) for x in head] == [seq, log.last_seq, log.acked_seq, torn]
    assert bytes.fromhex(image) == bytes(fl.image)
