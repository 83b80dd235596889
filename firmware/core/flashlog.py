"""Append-only, power-loss-safe record log on NOR flash (hardware-free core module).

``FlashLog(storage, capacity_bytes=None)`` works over an injected block device with
MicroPython's extended block protocol (os.AbstractBlockDev), i.e. on the ESP32 an
``esp32.Partition`` and on the sim board ``flash_storage.FileFlash``:
``readblocks(block, buf, offset)``, ``writeblocks(block, buf, offset)`` (program only, no erase),
``ioctl(4)`` block count, ``ioctl(5)`` block size, ``ioctl(6, block)`` erase. NOR rules are
assumed: erased bytes read 0xFF; programming can only clear bits; nothing is ever re-programmed.

Layout of the first ``capacity_bytes`` (default: the whole device), in erase blocks ("sectors"):

- blocks 0 and 1: acknowledgement journal. Slots of 8 bytes ``seq u32 | seq ^ 0xFFFFFFFF u32``
  appended one after another; the valid slot with the highest seq wins. When a block is full the
  other one is erased and continued, so a power loss never loses the previous ack.
- blocks 2..n-1: a ring of log sectors. Each starts with a 16-byte header ``magic u32
  ("SpL1") | generation u32 | boot u16 | 0xFFFF | crc32 u32`` and holds whole frames of
  ``records.py`` (never split across sectors), followed by erased bytes. The sector with the
  highest generation is the head; appends go to its end. The last ``LOSS_RESERVE`` bytes of
  every sector are kept for the LOSS record of a rotation.

Guarantees (tested in tests/firmware/mpt_flashlog.py):

- seq is device-wide and monotonic from 1: recovered on open as the last complete record.
  A torn record never existed, so its seq is issued again to the next record.
- Power loss at any byte: open keeps every complete record and drops only the torn one
  (``torn_bytes`` says how many bytes were skipped). A corrupt record in the middle (CRC) is
  skipped alone and counted in ``skipped``; scanning resyncs on the next valid frame.
- A sector with an unreadable header over records: open writes a LOSS (LOSS_CORRUPT_SECTOR)
  naming exactly its unacknowledged seqs (from its frames), then erases it; the next seq is
  above every seq found. See docs/firmware-integrity.md.
- Rotation: when the head is full the oldest sector is erased. If it holds records the host has
  not acknowledged, a LOSS record (first_seq = acked_seq + 1, last_seq = newest seq erased) is
  written into the reserve of the current head BEFORE the erase, so no unacknowledged record
  ever disappears without a trace. The newest records are always kept.
- ``append`` allocates nothing on MicroPython (preallocated frame buffer and memoryviews).

API (stable): ``append(rtype, values) -> seq``; ``read_from(seq, buf)`` generator yielding the
length n of each complete frame with seq' >= seq, in seq order, copied into ``buf[:n]`` (buf:
bytearray of records.MAX_FRAME); ``read_next(seq, buf) -> n`` (0 if none); ``ack(seq)``;
properties ``last_seq``, ``acked_seq``, ``first_seq`` (oldest retained, 0 if empty),
``last_boot`` (boot number of the newest BOOT record, 0 if none); counters ``skipped``,
``torn_bytes``, ``rotations``, ``losses``, ``corrupt_sectors`` (unreadable headers over
records, found at open).
CRCs via records.crc_store/crc_check, ack slots in 16-bit halves: no int >= 2**30.
"""
import struct
from array import array

from . import records as R

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SECTOR_MAGIC = const(0x314C7053)  # b"SpL1" little-endian
_HDR = const(16)
_ACK_BLOCKS = const(2)
_FIRST_LOG_BLOCK = const(2)
_ACK_SLOT = const(8)
_IOCTL_BLK_COUNT = const(4)
_IOCTL_BLK_SIZE = const(5)
_IOCTL_BLK_ERASE = const(6)
_ERASED = const(0xFF)
_BLANK_HDR = b"\xff" * _HDR
LOSS_RESERVE = R.frame_size(R.TYPE_LOSS)


class FlashLogError(Exception):
    """Bad geometry or a bad request (message names what and where)."""


class FlashLog:
    def __init__(self, storage, capacity_bytes=None):
        self._st = storage
        bs = storage.ioctl(_IOCTL_BLK_SIZE, 0)
        count = storage.ioctl(_IOCTL_BLK_COUNT, 0)
        if capacity_bytes is not None:
            if capacity_bytes > bs * count:
                raise FlashLogError("capacity %d bytes exceeds the storage (%d blocks of %d bytes)"
                                    % (capacity_bytes, count, bs))
            count = capacity_bytes // bs
        if bs < _HDR + R.MAX_FRAME + LOSS_RESERVE:
            raise FlashLogError("block size %d too small: a sector needs at least %d bytes"
                                % (bs, _HDR + R.MAX_FRAME + LOSS_RESERVE))
        if count < _FIRST_LOG_BLOCK + 2:
            raise FlashLogError("capacity of %d blocks too small: need 2 ack + 2 log blocks" % count)
        self._bs = bs
        self._n = count - _FIRST_LOG_BLOCK          # log sectors in the ring
        self._limit = bs - LOSS_RESERVE             # normal appends end before this offset
        self._gen = array("I", [0] * self._n)       # sector generation, 0 = blank/invalid
        self._first = array("I", [0] * self._n)     # first seq in the sector, 0 = no records
        # preallocated buffers: the frame being appended, LOSS and ack frames, the scan buffer
        self._fb = bytearray(R.MAX_FRAME)
        fmv = memoryview(self._fb)
        self._wv = {}
        self._cv = {}
        for t in R.FIELDS:
            n = R.frame_size(t)
            self._wv[t] = fmv[0:n]
            self._cv[t] = fmv[0:n - 4]
        self._lb = bytearray(LOSS_RESERVE)
        self._lv = array("i", [0, 0, R.LOSS_ROTATION])
        self._ab = bytearray(_ACK_SLOT)
        self._hb = bytearray(_HDR)
        self._sb = bytearray(R.MAX_FRAME)
        self._xb = bytearray(32)
        self._p = 0                                 # _next(): frame position / end of data
        self._bad = -1                              # _next(): start of the last bad region
        self.skipped = 0
        self.torn_bytes = 0
        self.rotations = 0
        self.losses = 0
        self.corrupt_sectors = 0
        self._last = 0
        self._acked = 0
        self._boot = 0
        self._last_loss = 0
        self._head = 0
        self._wp = _HDR
        self._ack_blk = 0
        self._ack_pos = 0
        self._open()

    # ---- public state -------------------------------------------------------------------
    @property
    def last_seq(self):
        return self._last

    @property
    def acked_seq(self):
        return self._acked

    @property
    def last_boot(self):
        return self._boot

    @property
    def first_seq(self):
        i = self._oldest()
        return self._first[i] if i >= 0 else 0

    @property
    def sector_size(self):
        return self._bs

    @property
    def sectors(self):
        return self._n

    # ---- append -------------------------------------------------------------------------
    def append(self, rtype, values):
        """Write one record; return its seq. Raises records.RecordError for bad values
        (nothing is written then) and OSError from the storage."""
        wv = self._wv.get(rtype)
        if wv is None:
            raise R.RecordError(R.ERR_UNKNOWN_TYPE, "cannot append unknown record type %r" % (rtype,))
        cv = self._cv[rtype]
        seq = self._last + 1
        R.pack_into(self._fb, 0, rtype, seq, values, cv)     # validates before any write
        n = len(wv)
        if self._wp + n > self._limit:
            self._advance()
            if self._last + 1 != seq:                        # a LOSS record took that seq
                seq = self._last + 1
                R.pack_into(self._fb, 0, rtype, seq, values, cv)
        self._program(_FIRST_LOG_BLOCK + self._head, wv, self._wp)
        if self._first[self._head] == 0:
            self._first[self._head] = seq
        self._wp += n
        self._last = seq
        if rtype == R.TYPE_BOOT:
            self._boot = values[R.BT_BOOT]
        return seq

    # ---- acknowledgement ----------------------------------------------------------------
    def ack(self, seq):
        """The host has stored every record up to ``seq``: persist it (no LOSS for them)."""
        if seq > self._last:
            raise FlashLogError("ack of seq %d beyond the last record %d" % (seq, self._last))
        if seq <= self._acked:
            return
        bs = self._bs
        if self._ack_pos + _ACK_SLOT > bs:
            other = 1 - self._ack_blk
            self._st.ioctl(_IOCTL_BLK_ERASE, other)
            self._ack_blk = other
            self._ack_pos = 0
        # seq | seq ^ 0xFFFFFFFF, written as halves (the complement is always >= 2**30)
        struct.pack_into("<IHH", self._ab, 0, seq, (seq & 0xFFFF) ^ 0xFFFF, (seq >> 16) ^ 0xFFFF)
        self._program(self._ack_blk, self._ab, self._ack_pos)
        self._ack_pos += _ACK_SLOT
        self._acked = seq

    # ---- reading ------------------------------------------------------------------------
    def read_from(self, seq, buf):
        """Yield n for each complete frame with seq' >= seq (oldest first), frame in buf[:n].

        Corrupt frames are skipped (counted in ``skipped``). Safe against appends between
        steps: seqs yielded are strictly increasing.
        """
        if seq > self._last:
            return
        i = self._locate(seq)
        if i < 0:
            return
        pos = _HDR
        last = seq - 1
        gen = self._gen[i]
        while True:
            if self._gen[i]:
                while True:
                    if self._gen[i] != gen:
                        # rotation recycled this sector while we were suspended: find the
                        # next record again (what was erased is covered by a LOSS record)
                        i = self._locate(last + 1)
                        if i < 0:
                            return
                        pos = _HDR
                        gen = self._gen[i]
                    limit = self._wp if i == self._head else self._bs
                    if pos >= limit:
                        break
                    n = self._next(_FIRST_LOG_BLOCK + i, pos, limit, buf)
                    if self._bad >= 0:
                        self.skipped += 1
                    if n == 0:
                        break
                    pos = self._p + n
                    s = struct.unpack_from("<I", buf, 4)[0]
                    if s > last:
                        last = s
                        yield n
            if i == self._head:
                return
            i = (i + 1) % self._n
            pos = _HDR
            gen = self._gen[i]

    def read_next(self, seq, buf):
        """Length of the first complete frame with seq' >= seq, copied into buf; 0 if none."""
        for n in self.read_from(seq, buf):
            return n
        return 0

    # ---- internals ----------------------------------------------------------------------
    def _program(self, block, mv, offset):
        self._st.writeblocks(block, mv, offset)

    def _oldest(self):
        """Ring index of the oldest sector holding records, -1 if none."""
        n = self._n
        for k in range(1, n + 1):
            i = (self._head + k) % n
            if self._gen[i] and self._first[i]:
                return i
        return -1

    def _locate(self, seq):
        n = self._n
        best = -1
        for k in range(1, n + 1):
            i = (self._head + k) % n
            f = self._first[i]
            if self._gen[i] and f:
                if best < 0 or f <= seq:
                    best = i
                if f > seq:
                    break
        return best

    def _erased_from(self, blk, pos, end):
        buf = self._xb
        mv = memoryview(buf)
        while pos < end:
            k = min(len(buf), end - pos)
            self._st.readblocks(blk, mv[0:k], pos)
            for j in range(k):
                if buf[j] != _ERASED:
                    return False
            pos += k
        return True

    def _next(self, blk, pos, limit, buf):
        """Find the next complete frame at or after ``pos`` in block ``blk`` (before ``limit``).

        Returns its length (frame copied into buf, position in self._p) or 0 at the end of
        the data (self._p = first offset from which the sector is erased, or limit).
        self._bad = start of the last bad region skipped on the way (-1 if none).
        """
        bs = self._bs
        mv = memoryview(buf)
        self._bad = -1
        while pos < limit:
            k = bs - pos
            if k > R.MAX_FRAME:
                k = R.MAX_FRAME
            self._st.readblocks(blk, mv[0:k], pos)
            b0 = buf[0]
            if b0 == R.MAGIC:
                n = R.valid_len(buf, 0, k)
                if n > 0 and pos + n <= limit:
                    self._p = pos
                    return n
            elif b0 == _ERASED and self._erased_from(blk, pos, bs):
                break
            # bad byte: skip to the next candidate (a magic or an erased byte)
            if self._bad < 0:
                self._bad = pos
            j = 1
            while j < k and buf[j] != R.MAGIC and buf[j] != _ERASED:
                j += 1
            pos += j
        self._p = pos if pos < limit else limit
        return 0

    def _read_header(self, i):
        h = self._hb
        self._st.readblocks(_FIRST_LOG_BLOCK + i, h, 0)
        if not R.crc_check(h, 0, 12):
            return 0, 0
        magic, gen, boot = struct.unpack_from("<IIH", h, 0)
        if magic != _SECTOR_MAGIC or gen == 0:
            return 0, 0
        return gen, boot

    def _seq_range(self, i):
        """(lowest seq, highest seq, seq and boot number of the newest BOOT) of the CRC-valid
        frames in ring sector i; zeros where there are none."""
        blk = _FIRST_LOG_BLOCK + i
        buf = self._sb
        pos = _HDR
        lo = hi = bseq = boot = 0
        while True:
            n = self._next(blk, pos, self._bs, buf)
            if n == 0:
                return lo, hi, bseq, boot
            pos = self._p + n
            s = struct.unpack_from("<I", buf, 4)[0]
            if lo == 0 or s < lo:
                lo = s
            if s > hi:
                hi = s
            if buf[1] == R.TYPE_BOOT and s > bseq:
                bseq = s
                boot = struct.unpack_from("<H", buf, R.HEADER_LEN)[0]

    def _scan_sector(self, i, track):
        """Scan ring sector i fully: return (last seq, end of data); with track, note BOOT,
        LOSS and the torn tail."""
        blk = _FIRST_LOG_BLOCK + i
        buf = self._sb
        pos = _HDR
        last = 0
        while True:
            n = self._next(blk, pos, self._bs, buf)
            if n == 0:
                if track and self._bad >= 0:
                    self.torn_bytes = self._p - self._bad
                return last, self._p
            if track and self._bad >= 0:
                self.skipped += 1
            pos = self._p + n
            last = struct.unpack_from("<I", buf, 4)[0]
            if track:
                t = buf[1]
                if t == R.TYPE_BOOT:
                    self._boot = struct.unpack_from("<H", buf, R.HEADER_LEN)[0]
                elif t == R.TYPE_LOSS and buf[R.HEADER_LEN + 8] == R.LOSS_ROTATION:
                    ls = struct.unpack_from("<I", buf, R.HEADER_LEN + 4)[0]
                    if ls > self._last_loss:
                        self._last_loss = ls

    def _open(self):
        self._open_acks()
        self._open_sectors()

    def _open_acks(self):
        """Acknowledgement journal: the valid slot with the highest seq wins."""
        bs = self._bs
        best = 0
        best_blk = 0
        best_pos = -_ACK_SLOT
        for b in range(_ACK_BLOCKS):
            pos = 0
            while pos + _ACK_SLOT <= bs:
                self._st.readblocks(b, self._ab, pos)
                lo, hi, ilo, ihi = struct.unpack_from("<HHHH", self._ab, 0)
                if lo ^ ilo == 0xFFFF and hi ^ ihi == 0xFFFF and (lo & hi) != 0xFFFF:
                    s = lo | (hi << 16)
                    if s >= best:
                        best, best_blk, best_pos = s, b, pos
                pos += _ACK_SLOT
        if best == 0 and not self._erased_from(0, 0, bs):
            self._st.ioctl(_IOCTL_BLK_ERASE, 0)     # foreign or torn content, no valid ack
        # next free slot after the winner (skipping a torn slot)
        pos = best_pos + _ACK_SLOT
        while pos + _ACK_SLOT <= bs and not self._erased_from(best_blk, pos, pos + _ACK_SLOT):
            pos += _ACK_SLOT
        self._acked = best
        self._ack_blk = best_blk
        self._ack_pos = pos

    def _open_sectors(self):
        head = -1
        hgen = 0
        hboot = 0
        corrupt = []        # (sector, lowest seq, highest seq): unreadable header over records
        top = self._acked   # highest seq seen anywhere
        cbseq = cboot = 0   # the newest BOOT record in those sectors: seq, boot number
        for i in range(self._n):
            gen, boot = self._read_header(i)
            self._gen[i] = gen
            if gen > hgen:
                head, hgen, hboot = i, gen, boot
            elif gen == 0 and self._hb != _BLANK_HDR:     # else blank: nothing to scan
                lo, hi, bseq, boot = self._seq_range(i)
                if hi:
                    corrupt.append((i, lo, hi))
                    if hi > top:
                        top = hi
                    if bseq > cbseq:
                        cbseq, cboot = bseq, boot
        if head < 0:                        # nothing readable: start where nothing is lost
            head = 0
            while head < self._n - 1 and [c for c in corrupt if c[0] == head]:
                head += 1
            self._head = head
            self._boot = cboot
            self._start_sector(head, 1)
        else:
            self._open_head(head, hboot)
            if cbseq > self._last:          # a newer boot than any readable sector knows
                self._boot = cboot
        if self._last < top:
            self._last = top
        for i, lo, hi in corrupt:
            self.corrupt_sectors += 1
            if lo <= self._acked:
                lo = self._acked + 1
            if hi >= lo:
                self._write_loss(lo, hi, R.LOSS_CORRUPT_SECTOR)
            self._st.ioctl(_IOCTL_BLK_ERASE, _FIRST_LOG_BLOCK + i)

    def _open_head(self, head, hboot):
        self._head = head
        self._boot = hboot
        buf = self._sb
        for i in range(self._n):
            if self._gen[i] and i != head:
                if self._next(_FIRST_LOG_BLOCK + i, _HDR, self._bs, buf) > 0:
                    self._first[i] = struct.unpack_from("<I", buf, 4)[0]
        last, wp = self._scan_sector(head, True)
        self._wp = wp
        if last:
            self._first[head] = 0
            if self._next(_FIRST_LOG_BLOCK + head, _HDR, self._bs, buf) > 0:
                self._first[head] = struct.unpack_from("<I", buf, 4)[0]
        else:
            # empty head (power lost right after the sector was started): the newest
            # record is in the sector before it
            for k in range(1, self._n):
                i = (head - k) % self._n
                if self._gen[i] and self._first[i]:
                    last = self._scan_sector(i, False)[0]
                    break
        self._last = last if last > self._acked else self._acked

    def _start_sector(self, i, gen):
        blk = _FIRST_LOG_BLOCK + i
        self._st.ioctl(_IOCTL_BLK_ERASE, blk)
        self._gen[i] = 0
        self._first[i] = 0
        h = self._hb
        struct.pack_into("<IIHH", h, 0, _SECTOR_MAGIC, gen, self._boot, 0xFFFF)
        R.crc_store(h, 0, 12)
        self._program(blk, h, 0)
        self._gen[i] = gen
        self._head = i
        self._wp = _HDR

    def _victim_last(self, v):
        """Newest seq stored in ring sector v (the oldest sector): next sector's first - 1."""
        n = self._n
        for k in range(1, n):
            i = (v + k) % n
            if self._gen[i] and self._first[i]:
                return self._first[i] - 1
            if i == self._head:
                break
        return self._last

    def _write_loss(self, first, last, reason):
        """A LOSS record for seqs first..last at the head's end (its reserve included; the
        next sector when even that is used up)."""
        lv = self._lv
        lv[R.LS_FIRST_SEQ] = first
        lv[R.LS_LAST_SEQ] = last
        lv[R.LS_REASON] = reason
        if self._wp + LOSS_RESERVE > self._bs:
            self._advance()
        seq = self._last + 1
        n = R.pack_into(self._lb, 0, R.TYPE_LOSS, seq, lv)
        self._program(_FIRST_LOG_BLOCK + self._head, self._lb, self._wp)
        if self._first[self._head] == 0:
            self._first[self._head] = seq
        self._wp += n
        self._last = seq
        if reason == R.LOSS_ROTATION:
            self._last_loss = last
        self.losses += 1

    def _advance(self):
        nxt = (self._head + 1) % self._n
        pending = 0
        if self._gen[nxt] and self._first[nxt]:
            vlast = self._victim_last(nxt)
            if vlast > self._acked and vlast > self._last_loss:
                if self._wp + LOSS_RESERVE <= self._bs:
                    self._write_loss(self._acked + 1, vlast, R.LOSS_ROTATION)  # before the erase
                else:
                    # the reserve was used up by a torn LOSS write before a power loss: the
                    # LOSS goes first thing into the new sector (window: erase + header)
                    pending = vlast
            self.rotations += 1
        self._start_sector(nxt, self._gen[self._head] + 1)
        if pending:
            self._write_loss(self._acked + 1, pending, R.LOSS_ROTATION)
