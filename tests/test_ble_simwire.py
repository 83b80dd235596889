"""One definition of the sim BLE wire (boards/sim/simwire.py), used by both ends.

The board's ``bluetooth`` (MicroPython) and the bridge (CPython) import the same file and
declare no opcode or frame layout of their own; every frame packed on the real MicroPython
unix port is unpacked by the bridge's CPython to the same fields, and the other way round.
"""
from __future__ import annotations

import ast
import re
import subprocess

from spasmtrack import REPO_ROOT, firmware
from spasmtrack.ble import simbridge

W = firmware.board_module("sim", "simwire")
BOARD = REPO_ROOT / "boards" / "sim" / "bluetooth.py"
BRIDGE = REPO_ROOT / "host" / "spasmtrack" / "ble" / "simbridge.py"


def _sample(fmt: str) -> tuple:
    """Field values for a struct format: the largest each field holds (bytes: 0xA5...)."""
    out: list = []
    for count, code in re.findall(r"(\d*)([a-zA-Z])", fmt.lstrip("<")):
        n = int(count or 1)
        if code == "s":
            out.append(bytes([0xA5]) * n)
        elif code == "x":
            continue
        else:
            bits = {"B": 8, "H": 16, "I": 32, "Q": 64}[code]
            out.extend([(1 << bits) - 1 - i for i in range(n)])
    return tuple(out)


def test_both_ends_load_simwire_and_declare_no_opcode_of_their_own():
    assert simbridge.W is W
    board = BOARD.read_text()
    bridge = BRIDGE.read_text()
    assert "import simwire as W" in board
    assert not re.search(r"^_?(OP|EV|CTL)_\w+ *=", board, re.M)
    assert not re.search(r"^_?(OP|EV|CTL)_\w+ *=", bridge, re.M)
    # every frame goes out through W.pack with a W opcode
    sends = re.findall(r"self\._send\((\w+(?:\.\w+)?)", board) + re.findall(r"self\.send\((\w+(?:\.\w+)?)", bridge)
    assert len(sends) > 20 and all(x.startswith("W.") or x in ("op",) for x in sends), sends


def test_every_frame_packed_on_micropython_unpacks_on_cpython_and_back():
    ops = sorted(W.FMT)
    assert len(ops) == len(set(ops)) >= 27
    lines = ["import simwire as W"]
    for op in ops:
        lines.append(f"print(W.pack({op}, *{_sample(W.FMT[op])!r}, tail=b'tail').hex())")
    out = subprocess.run([firmware.micropython(), "-c", "\n".join(lines)],
                         env=firmware.unix_env(), capture_output=True, text=True, check=True)
    frames = [bytes.fromhex(x) for x in out.stdout.split()]
    assert len(frames) == len(ops)
    for op, fr in zip(ops, frames):
        n = int.from_bytes(fr[:2], "little")
        assert n == len(fr) - 2 and fr[2] == op
        fields, tail = W.unpack(op, fr[3:])
        assert fields == _sample(W.FMT[op]) and tail == b"tail", hex(op)
        assert W.pack(op, *fields, tail=tail) == fr        # CPython packs the same bytes
    # and MicroPython unpacks what CPython packs
    back = ["import simwire as W"] + [
        f"print(repr(W.unpack({op}, bytes.fromhex({fr[3:].hex()!r}))))" for op, fr in zip(ops, frames)]
    out = subprocess.run([firmware.micropython(), "-c", "\n".join(back)],
                         env=firmware.unix_env(), capture_output=True, text=True, check=True)
    for op, line in zip(ops, out.stdout.splitlines()):
        fields, tail = ast.literal_eval(line)
        assert tuple(fields) == _sample(W.FMT[op]) and tail == b"tail"
