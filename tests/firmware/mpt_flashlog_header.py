# mpy-heapsize: 512K  (test bookkeeping: many flash images)
# firmware/core/flashlog.py on the real MicroPython unix port: a flipped bit at every byte of a
# sector header (newest and oldest sector, before and after the ring has rotated, with and
# without an ack) becomes one LOSS record naming exactly the unacknowledged seqs that sector
# held, and seqs never go back.
from core import records as R
from core.flashlog import FlashLog
from flash_storage import RamFlash
from mpt_flashlog import BS, NBLK, check_no_silent_loss, dump, ev
from mpunit import assert_equal

HDR = 16


def sector_seqs(image, i):
    """Seqs of the CRC-valid frames stored in ring sector i of a flash image."""
    base = (2 + i) * BS
    sec = bytes(image[base:base + BS])
    out = []
    pos = HDR
    while pos < BS:
        n = R.valid_len(sec, pos, BS)
        if n <= 0:
            break
        out.append(R.unpack_from(sec, pos)[1])
        pos += n
    return out


def build(n_events, acked):
    fl = RamFlash(BS, NBLK)
    log = FlashLog(fl)
    for i in range(1, n_events + 1):
        log.append(R.TYPE_EVENT, ev(i))
    if acked:
        log.ack(acked)
    return fl, log


def check_header_flips(n_events, acked, which):
    """Flip each bit pattern at each header byte of the newest or oldest sector; reopen."""
    fl, log = build(n_events, acked)
    orig = dump(log)
    last = log.last_seq
    sector = log._head if which == "newest" else log._oldest()
    held = sector_seqs(fl.image, sector)
    assert held, "sector %d holds no records" % sector
    lost = [s for s in held if s > acked]
    cases = 0
    for b in range(HDR):
        for mask in (1 << (b % 8), 0x80 >> (b % 8), 0xFF):
            img = bytearray(fl.image)
            img[(2 + sector) * BS + b] ^= mask
            f2 = RamFlash(BS, NBLK, img)
            where = "%s sector %d, header byte %d ^ 0x%02x" % (which, sector, b, mask)
            log2 = FlashLog(f2)
            recs = dump(log2)
            assert_equal(log2.corrupt_sectors, 1, where)
            # every record of the other sectors is still there, byte for byte
            for s in orig:
                if s not in held:
                    assert_equal(recs.get(s), orig[s], where + ": seq %d" % s)
            for s in held:
                assert s not in recs, where + ": seq %d of the dropped sector is still read" % s
            new = [s for s in recs if s not in orig]
            if lost:
                # exactly one new record: the LOSS naming the unacknowledged seqs it held
                assert_equal(new, [last + 1], where)
                t, _, v, _ = R.unpack_from(recs[last + 1], 0)
                assert_equal((t, v[R.LS_FIRST_SEQ], v[R.LS_LAST_SEQ], v[R.LS_REASON]),
                             (R.TYPE_LOSS, lost[0], lost[-1], R.LOSS_CORRUPT_SECTOR), where)
                assert_equal(lost, list(range(lost[0], lost[-1] + 1)), where)
            else:
                assert_equal(new, [], where)
            check_no_silent_loss(log2, recs)
            # seqs never go back: the next record follows everything ever written
            nxt = log2.append(R.TYPE_EVENT, ev(500))
            assert_equal(nxt, last + (2 if lost else 1), where)
            # reopening finds nothing more to report: no duplicate LOSS, same records
            log3 = FlashLog(f2)
            assert_equal((log3.corrupt_sectors, log3.last_seq), (0, nxt), where)
            recs3 = dump(log3)
            del recs3[nxt]
            assert_equal(recs3, recs, where)
            cases += 1
    assert_equal(cases, 3 * HDR)


def test_header_flips_oldest_sector_before_rotation():
    check_header_flips(10, 0, "oldest")        # sector 0 holds seqs 1-4: one LOSS(1, 4)


def test_header_flips_oldest_sector_partly_acked():
    check_header_flips(10, 2, "oldest")        # LOSS(3, 4): 1 and 2 the host already has


def test_header_flips_oldest_sector_fully_acked_writes_no_loss():
    check_header_flips(10, 4, "oldest")


def test_header_flips_newest_sector_before_rotation():
    check_header_flips(10, 0, "newest")        # seqs 9, 10: the next seq is 12, never 9


def test_header_flips_newest_sector_after_rotation():
    check_header_flips(40, 5, "newest")        # rotation LOSS records in the ring as well


def test_header_flips_oldest_sector_after_rotation():
    check_header_flips(40, 5, "oldest")


def test_blank_sector_with_torn_header_loses_nothing():
    fl, log = build(10, 0)
    orig = dump(log)
    img = bytearray(fl.image)
    blank = (log._head + 1) % log.sectors           # never started: erased
    img[(2 + blank) * BS + 3] = 0x31                # a header torn after its first bytes
    log2 = FlashLog(RamFlash(BS, NBLK, img))
    assert_equal((log2.corrupt_sectors, log2.last_seq), (0, log.last_seq))
    assert_equal(dump(log2), orig)


def test_corrupt_newest_sector_keeps_the_boot_number_of_its_boot_record():
    fl, log = build(9, 0)                           # sector 2 holds seq 9
    log.append(R.TYPE_BOOT, (7, R.RESET_SOFT, 0x0100, 2, 0x1234))
    log.append(R.TYPE_EVENT, ev(11, 7))
    assert_equal((log._head, log.last_boot), (2, 7))
    fl.image[(2 + 2) * BS + 6] ^= 0x04              # the newest sector's generation
    log2 = FlashLog(fl)
    assert_equal((log2.corrupt_sectors, log2.last_boot, log2.last_seq), (1, 7, 12))
    # the device's next boot is number 8, not a second boot 7 (or 4 from an older header)
    assert_equal(log2.append(R.TYPE_BOOT, (8, R.RESET_POWER_ON, 0x0100, 2, 0x1234)), 13)
