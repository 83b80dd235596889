# mpy-heapsize: 96K
# firmware/core/records.py on the real MicroPython unix port: round trips, every decode error,
# range checks, index constants and the no-allocation pack path.
import gc
import struct
from array import array

from core import records as R
from mpunit import assert_equal, assert_raises
from record_samples import SAMPLES


def _frame(rtype, seq, values):
    buf = bytearray(R.MAX_FRAME)
    n = R.pack_into(buf, 0, rtype, seq, values)
    return buf, n


def test_round_trip_every_sample():
    for rtype, seq, values in SAMPLES:
        buf, n = _frame(rtype, seq, values)
        assert_equal(n, R.frame_size(rtype))
        assert_equal(R.unpack_from(buf, 0), (rtype, seq, values, n))


def test_back_to_back_frames_at_offsets():
    buf = bytearray(R.MAX_FRAME * len(SAMPLES) + 3)
    off = 3
    for rtype, seq, values in SAMPLES:
        off += R.pack_into(buf, off, rtype, seq, values)
    off = 3
    for rtype, seq, values in SAMPLES:
        t, s, v, n = R.unpack_from(buf, off)
        assert_equal((t, s, v), (rtype, seq, values))
        off += n


def test_header_layout_is_as_documented():
    buf, n = _frame(R.TYPE_MARK, 0x01020304, (9, 1000, 2))
    assert_equal(bytes(buf[:8]), bytes([0xA5, 5, 1, 7, 4, 3, 2, 1]))
    assert_equal(n, 8 + 7 + 4)
    assert_equal(struct.unpack_from("<HIB", buf, 8), (9, 1000, 2))


def test_event_array_in_fields_order():
    ev = array("i", [0] * R.EV_N)
    ev[R.EV_BOOT] = 2
    ev[R.EV_ONSET_MS] = 1000
    ev[R.EV_DURATION_MS] = 3000
    ev[R.EV_KIND] = R.KIND_CLONUS
    ev[R.EV_PEAK_CUV] = 99999
    ev[R.EV_CLONUS_CHZ] = 650
    ev[R.EV_MVC_PM] = R.MVC_UNCALIBRATED
    ev[R.EV_CONFIG_VERSION] = 4
    buf, n = _frame(R.TYPE_EVENT, 9, ev)
    rtype, seq, values, _ = R.unpack_from(buf, 0)
    assert_equal((rtype, seq), (R.TYPE_EVENT, 9))
    d = R.to_dict(rtype, values)
    assert_equal((d["boot"], d["onset_ms"], d["duration_ms"], d["kind"], d["peak_cuv"],
                  d["clonus_chz"], d["mvc_pm"], d["config_version"]),
                 (2, 1000, 3000, R.KIND_CLONUS, 99999, 650, 0xFFFF, 4))


def test_index_constants_match_fields():
    # every XX_NAME constant must be the index of field "name" in its type
    prefixes = (("EV_", R.TYPE_EVENT), ("SM_", R.TYPE_SUMMARY), ("BT_", R.TYPE_BOOT),
                ("TA_", R.TYPE_TIME_ANCHOR), ("MK_", R.TYPE_MARK), ("CF_", R.TYPE_CONFIG),
                ("LS_", R.TYPE_LOSS), ("FT_", R.TYPE_FAULT), ("AK_", R.TYPE_ACK))
    checked = 0
    for prefix, rtype in prefixes:
        names = [f[0] for f in R.FIELDS[rtype]]
        for i in range(len(names)):
            const_name = prefix + names[i].upper()
            assert_equal(getattr(R, const_name), i, const_name)
            checked += 1
    assert_equal(R.EV_N, len(R.FIELDS[R.TYPE_EVENT]))
    assert_equal(R.SM_N, len(R.FIELDS[R.TYPE_SUMMARY]))
    assert checked == sum(len(f) for f in R.FIELDS.values())


def _err(buf, end=None):
    return assert_raises(R.RecordError, R.unpack_from, buf, 0, end)


def test_bad_magic():
    buf, n = _frame(R.TYPE_MARK, 5, (1, 2, 1))
    buf[0] = 0x5A
    e = _err(buf)
    assert_equal(e.code, R.ERR_BAD_MAGIC)
    assert "bad magic 0x5a at offset 0" in str(e), str(e)


def test_unknown_type_and_version_and_length():
    buf, n = _frame(R.TYPE_MARK, 5, (1, 2, 1))
    b2 = bytearray(buf)
    b2[1] = 99
    e = _err(b2)
    assert_equal(e.code, R.ERR_UNKNOWN_TYPE)
    assert "unknown record type 99" in str(e), str(e)
    b2 = bytearray(buf)
    b2[2] = 2
    e = _err(b2)
    assert_equal(e.code, R.ERR_UNKNOWN_VERSION)
    assert "unknown layout version 2" in str(e), str(e)
    b2 = bytearray(buf)
    b2[3] = 8
    e = _err(b2)
    assert_equal(e.code, R.ERR_BAD_LENGTH)
    assert "payload_len 8" in str(e), str(e)


def test_crc_mismatch_every_byte():
    buf, n = _frame(R.TYPE_EVENT, 77, SAMPLES[3][2])
    for i in range(4, n):       # any flipped bit past the checked header fields -> CRC error
        b2 = bytearray(buf)
        b2[i] ^= 0x10
        e = _err(b2)
        assert_equal(e.code, R.ERR_CRC, "byte %d" % i)
        assert "CRC mismatch in EVENT at offset 0" in str(e), str(e)


def test_truncated_at_every_length():
    buf, n = _frame(R.TYPE_SUMMARY, 8, SAMPLES[5][2])
    for cut in range(0, n):
        e = _err(buf, cut)
        assert_equal(e.code, R.ERR_TRUNCATED, "cut %d" % cut)
        assert "truncated" in str(e), str(e)
    assert_equal(R.unpack_from(buf, 0, n)[3], n)


def test_pack_range_errors_name_the_field():
    buf = bytearray(R.MAX_FRAME)
    e = assert_raises(R.RecordError, R.pack_into, buf, 0, R.TYPE_MARK, 1, (1, 2, 256))
    assert_equal(e.code, R.ERR_BAD_VALUE)
    assert "MARK field kind=256 out of range 0..255" in str(e), str(e)
    e = assert_raises(R.RecordError, R.pack_into, buf, 0, R.TYPE_EVENT, 1, [0] * 13)
    assert "EVENT needs 14 values, got 13" in str(e), str(e)
    e = assert_raises(R.RecordError, R.pack_into, buf, 0, R.TYPE_MARK, 0, (1, 2, 1))
    assert "seq 0 out of range" in str(e), str(e)
    e = assert_raises(R.RecordError, R.pack_into, buf, 0, R.TYPE_MARK, 1, (-1, 2, 1))
    assert "boot=-1" in str(e), str(e)
    e = assert_raises(R.RecordError, R.pack_into, buf, 0, 42, 1, (1, 2, 1))
    assert_equal(e.code, R.ERR_UNKNOWN_TYPE)
    e = assert_raises(R.RecordError, R.pack_into, bytearray(10), 0, R.TYPE_MARK, 1, (1, 2, 1))
    assert_equal(e.code, R.ERR_NO_ROOM)
    # nothing was half-written into a too-small buffer
    small = bytearray(10)
    assert_raises(R.RecordError, R.pack_into, small, 0, R.TYPE_MARK, 1, (1, 2, 1))
    assert_equal(small, bytearray(10))


def test_pack_with_crcview_allocates_nothing():
    buf = bytearray(R.MAX_FRAME)
    n = R.frame_size(R.TYPE_EVENT)
    cv = memoryview(buf)[0:n - 4]
    ev = array("i", SAMPLES[3][2])

    def run(k):
        for i in range(k):
            R.pack_into(buf, 0, R.TYPE_EVENT, 100 + i, ev, cv)

    run(2)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        run(200)
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert used < 200, "pack_into allocated %d bytes in 200 calls" % used
    assert_equal(R.unpack_from(buf, 0)[1], 299)


def test_capacity_sizes():
    # the capacity target (>= 30 days of 300 events + 288 summaries per day in 1 MB) rests
    # on these frame sizes; bench/flashlog.py measures the real log
    assert_equal(R.frame_size(R.TYPE_EVENT), 48)
    assert_equal(R.frame_size(R.TYPE_SUMMARY), 45)
    per_day = 300 * 48 + 288 * 45
    assert 1048576 // per_day >= 30, per_day


def test_valid_len_agrees_with_unpack_errors():
    buf, n = _frame(R.TYPE_EVENT, 77, SAMPLES[3][2])
    assert_equal(R.valid_len(buf, 0, n), n)
    cases = []
    for cut in (0, 5, 8, 47):
        cases.append((bytearray(buf), cut))
    for i in (0, 1, 2, 3, 20, 47):
        b2 = bytearray(buf)
        b2[i] ^= 0x41
        cases.append((b2, n))
    for b2, end in cases:
        e = assert_raises(R.RecordError, R.unpack_from, b2, 0, end)
        assert_equal(R.valid_len(b2, 0, end), -e.code, str(e))
