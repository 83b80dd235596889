# mpy-heapsize: 512K  (test bookkeeping only: the log itself runs in 96K, see mpt_flashlog_heap.py)
# firmware/core/flashlog.py on the real MicroPython unix port, over the sim board's NOR flash
# (boards/sim/flash_storage.py): power loss at every byte of a realistic tail, rotation with LOSS
# records, acknowledgements, corrupt records in the middle, and the allocation-free append.
import gc
import os

from core import records as R
from flash_storage import FileFlash, PowerLoss, RamFlash
from core.flashlog import FlashLog, FlashLogError
from mpunit import assert_equal, assert_raises

BS = 256        # small sectors: 4 EVENT frames + the LOSS reserve per sector
NBLK = 8        # 2 ack blocks + 6 log sectors
_buf = bytearray(R.MAX_FRAME)


def ev(i, boot=3):
    return (boot, 1000 * i, 800 + i, R.KIND_SPASM, 0, R.FLAG_MOTION if i % 3 == 0 else 0,
            5000 + i, 2000 + i, 4000 + 10 * i, 0, 300, 120, R.MVC_UNCALIBRATED, 2)


def sm(i, boot=3):
    return (boot, 300000 * i, 300, 2, 0, 35, 0, 2950, 50, 0, i, 1, 420, 80, 2)


def dump(log, start=1):
    """{seq: frame bytes} of every record read_from(start) yields."""
    out = {}
    prev = 0
    for n in log.read_from(start, _buf):
        seq = R.unpack_from(_buf, 0, n)[1]
        assert seq > prev, "read_from out of order: %d after %d" % (seq, prev)
        prev = seq
        out[seq] = bytes(_buf[:n])
    return out


def losses(recs):
    """List of (first, last) of the LOSS records in a dump."""
    out = []
    for seq in recs:
        t, s, v, n = R.unpack_from(recs[seq], 0)
        if t == R.TYPE_LOSS:
            out.append((v[R.LS_FIRST_SEQ], v[R.LS_LAST_SEQ]))
    return out


def check_no_silent_loss(log, recs):
    """Every seq 1..last that is not in the log is acked or named by a LOSS record."""
    lost = losses(recs)
    for s in range(1, log.last_seq + 1):
        if s in recs or s <= log.acked_seq:
            continue
        covered = False
        for a, b in lost:
            if a <= s <= b:
                covered = True
        assert covered, "seq %d vanished without a LOSS record (acked %d, losses %r)" % (
            s, log.acked_seq, lost)


# ---- realistic prefix and tail --------------------------------------------------------------

def _prefix(log):
    log.append(R.TYPE_BOOT, (3, R.RESET_POWER_ON, 0x0100, 2, 0x1234))
    log.append(R.TYPE_CONFIG, (2, 1, 250))
    log.append(R.TYPE_TIME_ANCHOR, (3, 500, 1795000000, 4, R.SOURCE_HOST_CTS))
    for i in range(1, 23):
        log.append(R.TYPE_EVENT if i % 6 else R.TYPE_SUMMARY, ev(i) if i % 6 else sm(i))
    log.ack(5)


TAIL = [
    (R.TYPE_EVENT, ev(40)), (R.TYPE_MARK, (3, 41000, R.MARK_DOSE_TAKEN)),
    (R.TYPE_SUMMARY, sm(41)), (R.TYPE_EVENT, ev(42)), (R.TYPE_FAULT, (3, 43000, R.FAULT_EXCEPTION,
                                                                      R.name_code("OSError"), 77)),
    (R.TYPE_BOOT, (4, R.RESET_WDT, 0x0100, 2, 0x1234)), (R.TYPE_TIME_ANCHOR, (4, 10, 1795003600, 4, 1)),
    (R.TYPE_EVENT, ev(1, 4)), (R.TYPE_MARK, (4, 2000, R.MARK_FELT_SPASM)), (R.TYPE_EVENT, ev(2, 4)),
    (R.TYPE_SUMMARY, sm(1, 4)), (R.TYPE_EVENT, ev(3, 4)),
]


class OpLog(RamFlash):
    """RamFlash that remembers the cost of every program/erase (for the cut bookkeeping)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.ops = []

    def _program(self, addr, data):
        self.ops.append(("P", addr, len(data)))
        super()._program(addr, data)

    def _erase(self, block):
        self.ops.append(("E", block * self.block_size, 1))
        super()._erase(block)


def test_power_loss_at_every_byte_of_a_realistic_tail():
    base = RamFlash(BS, NBLK)
    log = FlashLog(base)
    _prefix(log)
    snapshot = bytes(base.image)
    # reference runs: the log after k complete tail appends, k = 0..len(TAIL)
    refs = []
    st = OpLog(BS, NBLK, bytearray(snapshot))
    log = FlashLog(st)
    refs.append(dump(log))
    for t, v in TAIL:
        log.append(t, v)
        refs.append(dump(log))
    assert log.rotations >= 2 and log.losses >= 1, (log.rotations, log.losses)
    ops = st.ops
    total = 0
    for op in ops:
        total += op[2]
    cuts = 0
    torn_seen = 0
    for cut in range(total + 1):
        fl = RamFlash(BS, NBLK, bytearray(snapshot))
        fl.power_budget = cut
        log = FlashLog(fl)
        k = 0
        try:
            for t, v in TAIL:
                log.append(t, v)
                k += 1
        except PowerLoss:
            pass
        # where did the power die? inside op j after `part` of its cost
        spent = 0
        part = 0
        j = 0
        while j < len(ops) and spent + ops[j][2] <= cut:
            spent += ops[j][2]
            j += 1
        if j < len(ops):
            part = cut - spent
        fl.power_budget = None
        rec = FlashLog(fl)                                  # recovery on open
        got = dump(rec)
        before, after = refs[k], refs[k + 1] if k < len(TAIL) else refs[k]
        for s in before:                                    # every complete record is kept
            if s in after:
                assert got.get(s) == before[s], "cut %d: lost or changed seq %d" % (cut, s)
        for s in got:                                       # nothing torn or invented appears
            assert got[s] == before.get(s, after.get(s)), "cut %d: bad record seq %d" % (cut, s)
            if s not in before:
                assert R.unpack_from(got[s], 0)[0] == R.TYPE_LOSS, "cut %d: seq %d" % (cut, s)
        assert_equal(rec.last_seq, max(got), "cut %d" % cut)
        check_no_silent_loss(rec, got)
        if part and ops[j][0] == "P" and ops[j][1] % BS >= 16:
            assert rec.torn_bytes > 0, "cut %d inside a frame but nothing torn" % cut
            torn_seen += 1
        # appends continue with the correct seq, and survive another reboot
        s = rec.append(R.TYPE_MARK, (5, 1, R.MARK_DOSE_TAKEN))
        again = FlashLog(fl)
        got2 = dump(again)
        assert_equal(again.last_seq, s)
        assert got2[s][1] == R.TYPE_MARK
        for q in range(max(got) + 1, s):    # only a rotation's LOSS record may come between
            assert got2[q][1] == R.TYPE_LOSS, "cut %d: seq %d after recovery" % (cut, q)
        assert s - max(got) in (1, 2), "cut %d: seq %d after %d" % (cut, s, max(got))
        for q in got:
            if q >= again.first_seq:
                assert_equal(got2.get(q), got[q], "cut %d: seq %d after the reboot" % (cut, q))
        check_no_silent_loss(again, got2)
        cuts += 1
    assert cuts == total + 1 and cuts > 500, cuts
    assert torn_seen > 400, torn_seen
    print("cuts", cuts, "torn", torn_seen)


def test_power_loss_at_every_byte_of_an_ack():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 9):
        log.append(R.TYPE_EVENT, ev(i))
    log.ack(3)
    snapshot = bytes(fl.image)
    slot = bytes([7, 0, 0, 0, 0xF8, 0xFF, 0xFF, 0xFF])       # seq 7, seq ^ 0xFFFFFFFF
    for cut in range(0, 9):
        complete = slot[cut:] == b"\xff" * (8 - cut)          # the rest would not change flash
        f2 = RamFlash(BS, NBLK, bytearray(snapshot))
        f2.power_budget = cut
        log = FlashLog(f2)
        try:
            log.ack(7)
        except PowerLoss:
            pass
        f2.power_budget = None
        rec = FlashLog(f2)
        assert_equal(rec.acked_seq, 7 if complete else 3, "cut %d" % cut)
        rec.ack(8)
        assert_equal(FlashLog(f2).acked_seq, 8, "cut %d" % cut)


def test_fresh_log_and_seq_persist_across_reboots():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    assert_equal((log.last_seq, log.acked_seq, log.first_seq, log.last_boot), (0, 0, 0, 0))
    assert_equal(log.read_next(1, _buf), 0)
    assert_equal(log.append(R.TYPE_BOOT, (1, R.RESET_POWER_ON, 1, 1, 7)), 1)
    assert_equal(log.append(R.TYPE_EVENT, ev(1, 1)), 2)
    log = FlashLog(fl)
    assert_equal((log.last_seq, log.first_seq, log.last_boot), (2, 1, 1))
    assert_equal(log.append(R.TYPE_BOOT, (2, R.RESET_SOFT, 1, 1, 7)), 3)
    log = FlashLog(fl)
    assert_equal((log.last_seq, log.last_boot), (3, 2))
    n = log.read_next(2, _buf)
    assert_equal(R.unpack_from(_buf, 0, n)[0:2], (R.TYPE_EVENT, 2))


def test_rotation_keeps_newest_and_records_unacked_loss():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 61):
        log.append(R.TYPE_EVENT, ev(i))
    recs = dump(log)
    assert log.rotations > 5 and log.losses == log.rotations, (log.rotations, log.losses)
    # the newest 15 events (3+ sectors) are all there, byte for byte
    newest = sorted(recs)[-15:]
    for s in newest:
        assert recs[s][1] in (R.TYPE_EVENT, R.TYPE_LOSS)
    events = [s for s in recs if recs[s][1] == R.TYPE_EVENT]
    assert len(events) >= 15
    check_no_silent_loss(log, recs)
    # nothing acked: every LOSS starts at seq 1 and the newest one ends right before the oldest
    lost = losses(recs)
    assert lost and all(a == 1 for a, b in lost), lost
    assert_equal(max(b for a, b in lost), log.first_seq - 1)
    # the same after a reboot
    log2 = FlashLog(fl)
    assert_equal(dump(log2), recs)
    assert_equal(log2.last_seq, log.last_seq)


def test_rotation_after_ack_writes_no_loss():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 200):
        s = log.append(R.TYPE_EVENT, ev(i))
        log.ack(s)          # the host keeps up
    recs = dump(log)
    assert_equal(losses(recs), [])
    assert log.rotations > 30
    check_no_silent_loss(log, recs)
    assert_equal(FlashLog(fl).acked_seq, log.last_seq)   # ack journal wrapped many times


def test_rotation_partial_ack_loss_starts_after_ack():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 24):
        log.append(R.TYPE_EVENT, ev(i))
    log.ack(2)
    for i in range(24, 30):
        log.append(R.TYPE_EVENT, ev(i))
    recs = dump(log)
    lost = losses(recs)
    assert_equal(lost[0][0], 3, repr(lost))
    check_no_silent_loss(log, recs)


def test_power_loss_between_loss_record_and_erase_writes_no_duplicate():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 25):
        log.append(R.TYPE_EVENT, ev(i))     # ring full, head nearly full
    while True:                             # find the append that rotates with a LOSS
        snap = bytes(fl.image)
        before = log.losses
        log.append(R.TYPE_EVENT, ev(99))
        if log.losses > before:
            break
    f2 = RamFlash(BS, NBLK, bytearray(snap))
    f2.power_budget = R.frame_size(R.TYPE_LOSS)      # the LOSS completes, the erase does not
    log = FlashLog(f2)
    assert_raises(PowerLoss, log.append, R.TYPE_EVENT, ev(99))
    f2.power_budget = None
    log = FlashLog(f2)
    n_loss = len(losses(dump(log)))
    log.append(R.TYPE_EVENT, ev(100))
    recs = dump(log)
    assert_equal(len(losses(recs)), n_loss)
    assert_equal(log.losses, 0)
    check_no_silent_loss(log, recs)


def test_read_from_positions():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 40):
        log.append(R.TYPE_EVENT, ev(i))
    first = log.first_seq
    all_ = dump(log)
    assert_equal(sorted(dump(log, 0)), sorted(all_))
    assert_equal(sorted(dump(log, first + 5)), [s for s in sorted(all_) if s >= first + 5])
    assert_equal(dump(log, log.last_seq + 1), {})
    assert_equal(sorted(dump(log, 1)), sorted(all_))       # older than the oldest: from oldest
    n = log.read_next(first + 2, _buf)
    assert_equal(R.unpack_from(_buf, 0, n)[1], first + 2)
    # appends between steps of a read: the reader sees them, in order, once
    start = log.last_seq
    it = log.read_from(start - 1, _buf)
    next(it)
    for i in range(5):
        log.append(R.TYPE_MARK, (3, i, 1))
    rest = []
    for n in it:
        rest.append(R.unpack_from(_buf, 0, n)[1])
    assert_equal(rest, list(range(start, log.last_seq + 1)))
    assert log.last_seq >= start + 5


def _corrupt(fl, seq, delta, value=None):
    """Flip (or set) byte `delta` of the frame with `seq` directly in the image (bit rot)."""
    img = fl.image
    for blk in range(2, NBLK):
        base = blk * BS
        pos = base + 16
        while pos < base + BS:
            n = R.valid_len(img, pos, base + BS)
            if n <= 0:
                break
            if R.unpack_from(img, pos)[1] == seq:
                img[pos + delta] = value if value is not None else img[pos + delta] ^ 0x5A
                return
            pos += n
    raise AssertionError("seq %d not found" % seq)


def _corrupt_case(seq, delta, value=None):
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 19):
        log.append(R.TYPE_EVENT, ev(i))
    _corrupt(fl, seq, delta, value)
    log = FlashLog(fl)
    recs = dump(log)
    want = [s for s in range(1, 19) if s != seq]
    assert_equal(sorted(recs), want, "seq %d byte %d" % (seq, delta))
    assert log.skipped >= 1, log.skipped
    assert_equal(log.last_seq, 18)
    assert_equal(log.append(R.TYPE_EVENT, ev(19)), 19)
    assert_equal(sorted(dump(FlashLog(fl))), want + [19])
    return log


def test_corrupt_middle_record_payload_is_skipped_alone():
    log = _corrupt_case(6, 20)               # CRC error, non-head sector
    assert_equal(log.torn_bytes, 0)


def test_corrupt_middle_record_magic_resyncs_on_next_magic():
    _corrupt_case(10, 0, 0x00)               # magic destroyed: resync on the next frame


def test_corrupt_middle_record_length_byte():
    _corrupt_case(7, 3, 0x01)


def test_corrupt_record_in_head_sector_is_counted_at_open():
    log = _corrupt_case(17, 30)              # head sector holds 17, 18
    assert_equal(log.torn_bytes, 0)


class CountingFlash:
    """Block device that stores nothing and allocates nothing: isolates the log's own cost."""

    def __init__(self, bs, count):
        self.bs = bs
        self.count = count
        self.programmed = 0

    def readblocks(self, block, buf, offset=0):
        for i in range(len(buf)):
            buf[i] = 0xFF

    def writeblocks(self, block, buf, offset=None):
        self.programmed += len(buf)

    def ioctl(self, op, arg):
        return {4: self.count, 5: self.bs}.get(op, 0)


def test_append_allocates_nothing():
    fl = CountingFlash(4096, 16)
    log = FlashLog(fl)
    v = ev(1)
    mark = (3, 5, 1)

    def run(k):
        for i in range(k):
            log.append(R.TYPE_EVENT, v)
            log.append(R.TYPE_MARK, mark)

    run(1)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        run(30)
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert_equal(log.last_seq, 62)
    assert_equal(fl.programmed, 16 + 31 * (48 + 19))
    assert_equal(used, 0, "bytes allocated by 60 appends")


def test_bad_input_and_geometry_errors():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    e = assert_raises(R.RecordError, log.append, R.TYPE_MARK, (3, 1, 300))
    assert "MARK field kind=300" in str(e), str(e)
    assert_equal(log.last_seq, 0)                      # nothing written, no seq consumed
    assert_equal(log.append(R.TYPE_MARK, (3, 1, 1)), 1)
    assert_raises(R.RecordError, log.append, 99, (1,))
    e = assert_raises(FlashLogError, log.ack, 2)
    assert "ack of seq 2 beyond the last record 1" in str(e), str(e)
    e = assert_raises(FlashLogError, FlashLog, RamFlash(64, 8))
    assert "block size 64 too small" in str(e), str(e)
    e = assert_raises(FlashLogError, FlashLog, RamFlash(BS, 3))
    assert "too small" in str(e), str(e)
    e = assert_raises(FlashLogError, FlashLog, RamFlash(BS, 8), BS * 9)
    assert "exceeds the storage" in str(e), str(e)


def test_foreign_flash_content_is_formatted():
    fl = RamFlash(BS, NBLK)
    for i in range(len(fl.image)):
        fl.image[i] = (i * 7) & 0xFF           # e.g. an old filesystem
    log = FlashLog(fl)
    assert_equal((log.last_seq, log.acked_seq), (0, 0))
    for i in range(1, 30):
        log.append(R.TYPE_EVENT, ev(i))
    last = log.last_seq                        # 29 events + the LOSS records of rotations
    assert last > 29
    log.ack(last)
    log = FlashLog(fl)
    assert_equal((log.last_seq, log.acked_seq), (last, last))
    assert_equal(max(dump(log)), last)


def test_file_flash_nor_semantics_and_persistence():
    path = "/tmp/spasmtrack_mpt_flashlog_%d.bin" % os.getpid() if hasattr(os, "getpid") else \
        "/tmp/spasmtrack_mpt_flashlog.bin"
    try:
        os.remove(path)
    except OSError:
        pass
    try:
        fl = FileFlash(path, BS, NBLK)
        b = bytearray(4)
        fl.readblocks(2, b, 10)
        assert_equal(b, bytearray(b"\xff\xff\xff\xff"))
        fl.writeblocks(2, b"\x0f\xf0\x00\xff", 10)
        fl.writeblocks(2, b"\xf3\xff\xff\x00", 10)      # programming only clears bits
        fl.readblocks(2, b, 10)
        assert_equal(b, bytearray(b"\x03\xf0\x00\x00"))
        fl.ioctl(6, 2)
        fl.readblocks(2, b, 10)
        assert_equal(b, bytearray(b"\xff\xff\xff\xff"))
        log = FlashLog(fl)
        for i in range(1, 12):
            log.append(R.TYPE_EVENT, ev(i))
        log.ack(4)
        fl.power_budget = 30
        assert_raises(PowerLoss, log.append, R.TYPE_SUMMARY, sm(1))   # torn on "disk"
        fl.close()
        fl = FileFlash(path, BS, NBLK)                   # a new process would see this file
        log = FlashLog(fl)
        assert_equal((log.last_seq, log.acked_seq), (11, 4))
        assert log.torn_bytes == 30, log.torn_bytes
        assert_equal(sorted(dump(log)), list(range(1, 12)))
        assert_equal(log.append(R.TYPE_SUMMARY, sm(1)), 12)
        fl.close()
    finally:
        try:
            os.remove(path)
        except OSError:
            pass


def test_reader_survives_rotation_of_the_sector_it_is_reading():
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, 30):                  # ring full
        log.append(R.TYPE_EVENT, ev(i))
    it = log.read_from(0, _buf)
    got = []
    n = next(it)
    got.append(R.unpack_from(_buf, 0, n)[1])
    for i in range(30, 60):                 # the reader's sector is erased and reused
        log.append(R.TYPE_EVENT, ev(i))
    for n in it:
        got.append(R.unpack_from(_buf, 0, n)[1])
    for a, b in zip(got, got[1:]):
        assert b > a, "not strictly increasing: %r" % got
    now = dump(log)
    # after the first, exactly the records still in the log: none skipped, none repeated
    assert_equal(got[1:], sorted(s for s in now if s > got[0]))
    check_no_silent_loss(log, now)
