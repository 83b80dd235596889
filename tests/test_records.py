"""spasmtrack.records (host loader of firmware/core/records.py): typed decode helpers, precise
errors, and a cross-check that frames packed by MicroPython decode identically on CPython and
vice versa."""
from __future__ import annotations

import pytest

from mpy_plugin import ROOT, run_micropython
from spasmtrack import firmware
from spasmtrack import records as R


def _samples() -> list[tuple[int, int, tuple[int, ...]]]:
    """tests/firmware/record_samples.py, which does ``from core import records`` (the firmware
    module): run on CPython with ``core`` bound to the host's copy of the firmware core."""
    mod = firmware.load_source(ROOT / "tests" / "firmware" / "record_samples.py", "record_samples_cpy")
    assert mod.R is R.fw
    return mod.SAMPLES


SAMPLES = _samples()


def test_host_module_is_the_firmware_file() -> None:
    assert R.fw.__file__ == str(ROOT / "firmware" / "core" / "records.py")
    assert R.TYPE_EVENT == 3 and R.EV_ONSET_MS == 1 and R.MAX_FRAME == R.fw.MAX_FRAME
    assert "0.01 uV" in R.fw.__doc__


def test_encode_decode_stream_round_trip() -> None:
    data = b"".join(R.encode(t, s, v) for t, s, v in SAMPLES)
    recs = R.decode_stream(data)
    assert [(r.rtype, r.seq, r.values) for r in recs] == SAMPLES
    assert b"".join(r.raw for r in recs) == data
    ev = recs[3]
    assert ev.type_name == "EVENT" and ev["clonus_chz"] == 612 and ev["mvc_pm"] == 0xFFFF


def test_encode_by_keyword_and_errors() -> None:
    raw = R.encode("MARK", 12, boot=2, ms=5000, kind=R.MARK_FELT_SPASM)
    assert R.decode_frame(raw).fields == {"boot": 2, "ms": 5000, "kind": 2}
    with pytest.raises(R.RecordError, match=r"missing fields \['kind'\], unknown fields \['knd'\]"):
        R.encode("MARK", 12, boot=2, ms=5000, knd=2)
    with pytest.raises(R.RecordError, match="MARK field ms=-5 out of range"):
        R.encode("MARK", 12, boot=2, ms=-5, kind=1)
    with pytest.raises(R.RecordError, match="MARK field ms=1.5 out of range"):
        R.encode("MARK", 12, (2, 1.5, 1))


@pytest.mark.parametrize("mutate, code, text", [
    (lambda b: b[:-1], R.ERR_TRUNCATED, "truncated MARK at offset 19: 18 of 19 bytes"),
    (lambda b: b[:19] + b"\x5a" + b[20:], R.ERR_BAD_MAGIC, "bad magic 0x5a at offset 19"),
    (lambda b: b[:21] + b"\x07" + b[22:], R.ERR_UNKNOWN_VERSION, "unknown layout version 7"),
    (lambda b: b[:20] + b"\x63" + b[21:], R.ERR_UNKNOWN_TYPE, "unknown record type 99"),
    (lambda b: b[:-2] + bytes([b[-2] ^ 1]) + b[-1:], R.ERR_CRC, "CRC mismatch in MARK at offset 19"),
])
def test_decode_stream_errors_name_offset_and_reason(mutate, code, text) -> None:
    good = R.encode("MARK", 1, (1, 10, 1)) + R.encode("MARK", 2, (1, 20, 2))
    with pytest.raises(R.StreamError) as ei:
        R.decode_stream(mutate(good))
    e = ei.value
    assert (e.offset, e.index, e.code) == (19, 1, code)
    assert "frame #1 at byte 19" in str(e) and "after seq 1" in str(e)
    assert text in str(e)


def _mpy(code: str) -> str:
    proc = run_micropython(code, "96K")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_micropython_packed_frames_decode_identically_on_cpython() -> None:
    out = _mpy(
        "from core import records as R\nimport binascii\n"
        "from record_samples import SAMPLES\n"
        "for t, s, v in SAMPLES:\n"
        "    b = bytearray(R.MAX_FRAME)\n"
        "    n = R.pack_into(b, 0, t, s, v)\n"
        "    print(binascii.hexlify(b[:n]).decode())\n")
    frames = [bytes.fromhex(line) for line in out.split()]
    assert len(frames) == len(SAMPLES)
    for raw, (t, s, v) in zip(frames, SAMPLES):
        assert raw == R.encode(t, s, v)          # byte-identical to the CPython packing
        rec = R.decode_frame(raw)
        assert (rec.rtype, rec.seq, rec.values) == (t, s, v)


def test_cpython_packed_frames_decode_identically_on_micropython() -> None:
    data = b"".join(R.encode(t, s, v) for t, s, v in SAMPLES)
    out = _mpy(
        "from core import records as R\nimport binascii\n"
        f"b = binascii.unhexlify({data.hex()!r})\n"
        "off = 0\n"
        "while off < len(b):\n"
        "    t, s, v, n = R.unpack_from(b, off)\n"
        "    print(repr((t, s, v)))\n"
        "    off += n\n")
    got = [eval(line) for line in out.splitlines()]   # tuples of ints printed by MicroPython
    assert got == SAMPLES


def test_errors_are_identical_on_both_interpreters() -> None:
    good = R.encode("EVENT", 3, SAMPLES[3][2])
    bad = [good[:30], b"\x00" + good[1:], good[:1] + b"\x7e" + good[2:],
           good[:2] + b"\x02" + good[3:], good[:3] + b"\x10" + good[4:],
           good[:40] + bytes([good[40] ^ 0x80]) + good[41:]]
    cpy = []
    for b in bad:
        with pytest.raises(R.RecordError) as ei:
            R.fw.unpack_from(b, 0)
        cpy.append((ei.value.code, str(ei.value)))
    out = _mpy(
        "from core import records as R\nimport binascii\n"
        f"for h in {[b.hex() for b in bad]!r}:\n"
        "    try:\n"
        "        R.unpack_from(binascii.unhexlify(h), 0)\n"
        "        print(repr((0, 'decoded')))\n"
        "    except R.RecordError as e:\n"
        "        print(repr((e.code, str(e))))\n")
    assert [eval(line) for line in out.splitlines()] == cpy
    assert [c for c, _ in cpy] == [R.ERR_TRUNCATED, R.ERR_BAD_MAGIC, R.ERR_UNKNOWN_TYPE,
                                   R.ERR_UNKNOWN_VERSION, R.ERR_BAD_LENGTH, R.ERR_CRC]
