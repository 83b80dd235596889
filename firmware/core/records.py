"""The ONE definition of spasmtrack's versioned binary record layout (flash log and BLE wire).

Runs unchanged on MicroPython and CPython (struct, plus binascii.crc32 on CPython). The host
loads this very file through ``spasmtrack.records``; nothing re-declares the layout elsewhere.

Frame (little-endian, 12 bytes of overhead)::

    magic u8 (0xA5) | type u8 | layout_version u8 | payload_len u8 | seq u32 | payload | crc32 u32

crc32 (binascii/zlib CRC-32) covers every preceding byte of the frame (header + payload).
On MicroPython it is computed by ``crc_store``/``crc_check`` (viper, 32-bit words) and written
byte by byte: a CRC is >= 2**30 for 3 frames in 4, which on the ESP32 (31-bit small ints)
would be a heap-allocated long int on every append. Nothing here holds it as a Python int.
``seq`` is device-wide, starts at 1, is never reused (the flash log persists it).

Units (the field names are the contract; the host store uses them as column names):

- device time = (``boot`` u16 boot counter, milliseconds since that boot u32). The ms are
  derived from the SAMPLE COUNT, not from ticks, so sampler overruns never shift time.
- ``*_ms``: milliseconds of device time; ``*_ds``: deciseconds (0.1 s); ``window_s``: s.
- ``peak_cuv``, ``mean_cuv``: EMG envelope in centi-microvolts (0.01 uV).
- ``area_uvms``: envelope area over the event in microvolt-milliseconds (uV*ms), i.e.
  sum(env_cuv over 10 ms envelope steps) * 10 / 100.
- ``clonus_chz``: clonus frequency in centi-hertz (0.01 Hz), 0 when there is no clonus.
- ``gyro_peak_ddps``: deci-degrees per second (0.1 dps); ``acc_peak_mg``: milli-g.
- ``mvc_pm``: per-mille of the calibrated maximum voluntary contraction, 0xFFFF = uncalibrated.
- ``jitter_us``: microseconds; ``battery_pct``: percent (0xFF unknown).
- ``unix_s``: seconds since 1970-01-01 UTC; ``tz_quarter_h``: local offset in quarter hours
  (information only, signed).
- ACK: the BLE peripheral acknowledged records (RACP DELETE) for another bonded host than
  the previous acknowledgement came from: from ``from_seq`` on, acknowledgements came from
  the host whose bond the device knows as ``peer_id`` (the status characteristic tells each
  host its own id), so the patient's host learns that someone else acknowledged.
- FAULT ``code``: ``name_code(exception class name)`` (crc32 & 0xFFFF) so the host can map
  known names; ``line``: source line of the fault or 0.
- CONFIG: one record per parameter: ``config_version``, ``key`` (parameter id, defined by
  detconfig.py), ``value`` (signed int32, in the unit detconfig.py states for that key).
- LOSS: written by the flash log when rotation erases records the host has not acknowledged:
  every seq in ``first_seq``..``last_seq`` (inclusive) that the host has not already received
  is gone for good. For LOSS_ROTATION=1 (``reason``) first_seq is (acked seq + 1), so successive
  LOSS records overlap; the union is what counts. LOSS_CORRUPT_SECTOR=2: a flash sector whose
  header became unreadable was dropped; first_seq..last_seq are exactly the unacknowledged seqs
  it held. A host must ack only up to the end of the
  contiguous run of seqs it holds (gaps explained by LOSS records count as held).

API (stable; changes will be announced here):
``pack_into(buf, offset, rtype, seq, values) -> nbytes`` (values: a list/tuple/array in
FIELDS order, range-checked per field), ``unpack_from(buf, offset, end=None) ->
(rtype, seq, values_tuple, nbytes)`` raising ``RecordError`` (``.code`` is one of ERR_*),
``frame_len(buf, offset)``, ``valid_len(buf, offset, end)`` (non-raising check), ``to_dict(rtype, values)``,
``crc_store(buf, start, end)`` / ``crc_check(buf, start, end)`` (CRC-32 of buf[start:end] written
at / compared with buf[end:end+4], little-endian; no allocation), ``FIELDS``, ``MAX_FRAME``, index
constants ``EV_*`` (EVENT), ``SM_*`` (SUMMARY), ``BT_*``, ``TA_*``, ``MK_*``, ``CF_*``, ``LS_*``,
``FT_*`` so device code can fill a preallocated ``array('i')`` in FIELDS order.
"""
import struct
from binascii import crc32

try:
    import micropython
    from micropython import const
except ImportError:  # CPython
    micropython = None

    def const(x):
        return x

MAGIC = const(0xA5)
LAYOUT_VERSION = const(1)
HEADER_LEN = const(8)
CRC_LEN = const(4)
OVERHEAD = const(12)

# record types
TYPE_BOOT = const(1)
TYPE_TIME_ANCHOR = const(2)
TYPE_EVENT = const(3)
TYPE_SUMMARY = const(4)
TYPE_MARK = const(5)
TYPE_CONFIG = const(6)
TYPE_LOSS = const(7)
TYPE_FAULT = const(8)
TYPE_ACK = const(9)

TYPE_NAMES = {
    TYPE_BOOT: "BOOT", TYPE_TIME_ANCHOR: "TIME_ANCHOR", TYPE_EVENT: "EVENT",
    TYPE_SUMMARY: "SUMMARY", TYPE_MARK: "MARK", TYPE_CONFIG: "CONFIG", TYPE_LOSS: "LOSS",
    TYPE_FAULT: "FAULT", TYPE_ACK: "ACK",
}

# EVENT kind
KIND_SPASM = const(1)
KIND_CLONUS = const(2)
KIND_SPASM_WITH_CLONUS = const(3)
# EVENT flags
FLAG_CLIPPED = const(1)
FLAG_MOTION = const(2)
FLAG_PARTIAL_LEADOFF = const(4)
FLAG_TRUNCATED = const(8)
FLAG_NEAR_THRESHOLD = const(16)
# MARK kind
MARK_DOSE_TAKEN = const(1)
MARK_FELT_SPASM = const(2)
# TIME_ANCHOR source
SOURCE_HOST_CTS = const(1)
SOURCE_MANUAL = const(2)
# BOOT reset_cause (same numbers as machine.*_RESET on the ESP32 port)
RESET_POWER_ON = const(1)
RESET_HARD = const(2)
RESET_WDT = const(3)
RESET_DEEPSLEEP = const(4)
RESET_SOFT = const(5)
# FAULT cause
FAULT_EXCEPTION = const(1)
FAULT_WATCHDOG = const(2)
FAULT_MEMORY = const(3)
FAULT_BROWNOUT = const(4)
# LOSS reason
LOSS_ROTATION = const(1)
LOSS_CORRUPT_SECTOR = const(2)
# MVC not calibrated
MVC_UNCALIBRATED = const(0xFFFF)

FIELDS = {
    TYPE_BOOT: (("boot", "H"), ("reset_cause", "B"), ("fw_version", "H"),
                ("config_version", "H"), ("board_hash", "H")),
    TYPE_TIME_ANCHOR: (("boot", "H"), ("ms", "I"), ("unix_s", "I"), ("tz_quarter_h", "b"),
                       ("source", "B")),
    TYPE_EVENT: (("boot", "H"), ("onset_ms", "I"), ("duration_ms", "I"), ("kind", "B"),
                 ("channel", "B"), ("flags", "H"), ("peak_cuv", "I"), ("mean_cuv", "I"),
                 ("area_uvms", "I"), ("clonus_chz", "H"), ("gyro_peak_ddps", "H"),
                 ("acc_peak_mg", "H"), ("mvc_pm", "H"), ("config_version", "H")),
    TYPE_SUMMARY: (("boot", "H"), ("start_ms", "I"), ("window_s", "H"), ("n_spasm", "H"),
                   ("n_clonus", "H"), ("spasm_ds", "H"), ("clonus_ds", "H"),
                   ("covered_ds", "H"), ("lost_ds", "H"), ("not_worn_ds", "H"),
                   ("dropped_samples", "I"), ("n_motion_rejected", "H"), ("jitter_us", "H"),
                   ("battery_pct", "B"), ("config_version", "H")),
    TYPE_MARK: (("boot", "H"), ("ms", "I"), ("kind", "B")),
    TYPE_CONFIG: (("config_version", "H"), ("key", "H"), ("value", "i")),
    TYPE_LOSS: (("first_seq", "I"), ("last_seq", "I"), ("reason", "B")),
    TYPE_FAULT: (("boot", "H"), ("ms", "I"), ("cause", "B"), ("code", "H"), ("line", "H")),
    TYPE_ACK: (("boot", "H"), ("ms", "I"), ("from_seq", "I"), ("peer_id", "H")),
}

# field indexes (FIELDS order) for preallocated value arrays
BT_BOOT = const(0)
BT_RESET_CAUSE = const(1)
BT_FW_VERSION = const(2)
BT_CONFIG_VERSION = const(3)
BT_BOARD_HASH = const(4)

TA_BOOT = const(0)
TA_MS = const(1)
TA_UNIX_S = const(2)
TA_TZ_QUARTER_H = const(3)
TA_SOURCE = const(4)

EV_BOOT = const(0)
EV_ONSET_MS = const(1)
EV_DURATION_MS = const(2)
EV_KIND = const(3)
EV_CHANNEL = const(4)
EV_FLAGS = const(5)
EV_PEAK_CUV = const(6)
EV_MEAN_CUV = const(7)
EV_AREA_UVMS = const(8)
EV_CLONUS_CHZ = const(9)
EV_GYRO_PEAK_DDPS = const(10)
EV_ACC_PEAK_MG = const(11)
EV_MVC_PM = const(12)
EV_CONFIG_VERSION = const(13)
EV_N = const(14)

SM_BOOT = const(0)
SM_START_MS = const(1)
SM_WINDOW_S = const(2)
SM_N_SPASM = const(3)
SM_N_CLONUS = const(4)
SM_SPASM_DS = const(5)
SM_CLONUS_DS = const(6)
SM_COVERED_DS = const(7)
SM_LOST_DS = const(8)
SM_NOT_WORN_DS = const(9)
SM_DROPPED_SAMPLES = const(10)
SM_N_MOTION_REJECTED = const(11)
SM_JITTER_US = const(12)
SM_BATTERY_PCT = const(13)
SM_CONFIG_VERSION = const(14)
SM_N = const(15)

MK_BOOT = const(0)
MK_MS = const(1)
MK_KIND = const(2)

CF_CONFIG_VERSION = const(0)
CF_KEY = const(1)
CF_VALUE = const(2)

LS_FIRST_SEQ = const(0)
LS_LAST_SEQ = const(1)
LS_REASON = const(2)

FT_BOOT = const(0)
FT_MS = const(1)
FT_CAUSE = const(2)
FT_CODE = const(3)
FT_LINE = const(4)

AK_BOOT = const(0)
AK_MS = const(1)
AK_FROM_SEQ = const(2)
AK_PEER_ID = const(3)

# RecordError codes
ERR_TRUNCATED = const(1)
ERR_BAD_MAGIC = const(2)
ERR_UNKNOWN_TYPE = const(3)
ERR_UNKNOWN_VERSION = const(4)
ERR_BAD_LENGTH = const(5)
ERR_CRC = const(6)
ERR_BAD_VALUE = const(7)
ERR_NO_ROOM = const(8)


class RecordError(ValueError):
    """A frame that cannot be packed or decoded; ``code`` is one of ERR_*, the message is precise."""

    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


# per field code: struct format, size, range (module-level so nothing is built per type)
_PFX = {"B": "<B", "b": "<b", "H": "<H", "h": "<h", "I": "<I", "i": "<i"}
_SIZE = {"B": 1, "b": 1, "H": 2, "h": 2, "I": 4, "i": 4}
_LO = {"B": 0, "b": -0x80, "H": 0, "h": -0x8000, "I": 0, "i": -0x80000000}
_HI = {"B": 0xFF, "b": 0x7F, "H": 0xFFFF, "h": 0x7FFF, "I": 0xFFFFFFFF, "i": 0x7FFFFFFF}

# per type: (struct format of the whole payload, payload length), built once at import
_PLAN = {}
for _t in FIELDS:
    _fmt = "<"
    _n = 0
    for _f in FIELDS[_t]:
        _fmt += _f[1]
        _n += _SIZE[_f[1]]
    _PLAN[_t] = (_fmt, _n)
del _t, _f, _fmt, _n
PAYLOAD_LEN = {}
for _t in _PLAN:
    PAYLOAD_LEN[_t] = _PLAN[_t][1]
del _t
MAX_PAYLOAD = max(PAYLOAD_LEN.values())
MAX_FRAME = MAX_PAYLOAD + OVERHEAD
MIN_FRAME = min(PAYLOAD_LEN.values()) + OVERHEAD


# ---- CRC-32 without a 2**30+ int -----------------------------------------------------------
_CRC_STORE = const(0)   # write the CRC at buf[end:end+4]; returns 1
_CRC_CHECK = const(1)   # 1 if buf[end:end+4] holds the CRC, else 0
_CRC_LOW16 = const(2)   # the CRC's low 16 bits

if micropython is not None:
    @micropython.viper
    def _crc(buf, start: int, end: int, mode: int) -> int:
        # reflected CRC-32 (poly 0xEDB88320, init and final xor 0xFFFFFFFF), bit by bit in
        # machine words; the 32-bit constants are built from 16-bit halves (small ints)
        p = ptr8(buf)
        poly = (uint(0xEDB8) << 16) | uint(0x8320)
        ones = (uint(0xFFFF) << 16) | uint(0xFFFF)
        c = ones
        i = start
        while i < end:
            c = c ^ uint(p[i])
            k = 0
            while k < 8:
                if c & 1:
                    c = (c >> 1) ^ poly
                else:
                    c = c >> 1
                k += 1
            i += 1
        c = c ^ ones
        if mode == _CRC_LOW16:
            return int(c & 0xFFFF)
        if mode == _CRC_STORE:
            p[end] = c & 0xFF
            p[end + 1] = (c >> 8) & 0xFF
            p[end + 2] = (c >> 16) & 0xFF
            p[end + 3] = (c >> 24) & 0xFF
            return 1
        if (uint(p[end]) | (uint(p[end + 1]) << 8) | (uint(p[end + 2]) << 16)
                | (uint(p[end + 3]) << 24)) == c:
            return 1
        return 0
else:
    def _crc(buf, start, end, mode):
        c = crc32(memoryview(buf)[start:end])
        if mode == _CRC_LOW16:
            return c & 0xFFFF
        if mode == _CRC_STORE:
            struct.pack_into("<I", buf, end, c)
            return 1
        return 1 if struct.unpack_from("<I", buf, end)[0] == c else 0


def crc_store(buf, start, end):
    """Write the CRC-32 of buf[start:end] at buf[end:end+4] (little-endian); allocates nothing."""
    _crc(buf, start, end, _CRC_STORE)


def crc_check(buf, start, end):
    """True if buf[end:end+4] holds the CRC-32 of buf[start:end]; allocates nothing."""
    return _crc(buf, start, end, _CRC_CHECK) == 1


def frame_size(rtype):
    """Bytes of a whole frame of type ``rtype`` in the current layout."""
    return _PLAN[rtype][1] + OVERHEAD


def name_code(name):
    """16-bit code of an exception class name for FAULT records (crc32 & 0xFFFF)."""
    b = name.encode() if isinstance(name, str) else name
    return _crc(b, 0, len(b), _CRC_LOW16)


def pack_into(buf, offset, rtype, seq, values, crcview=None):
    """Write one frame at buf[offset:]; return its length in bytes.

    ``values`` is a sequence in FIELDS[rtype] order (extra trailing items are ignored).
    Raises RecordError (ERR_UNKNOWN_TYPE, ERR_BAD_VALUE naming the field, ERR_NO_ROOM).
    Allocates nothing on MicroPython. ``crcview`` (optional, kept for callers that pass it):
    a memoryview of exactly buf[offset:offset+nbytes-4], checked but no longer needed.
    """
    plan = _PLAN.get(rtype)
    if plan is None:
        raise RecordError(ERR_UNKNOWN_TYPE, "cannot pack unknown record type %r" % (rtype,))
    plen = plan[1]
    n = plen + OVERHEAD
    if offset < 0 or offset + n > len(buf):
        raise RecordError(ERR_NO_ROOM, "%s frame needs %d bytes at offset %d, buffer has %d"
                          % (TYPE_NAMES[rtype], n, offset, len(buf)))
    if not 0 < seq <= 0xFFFFFFFF:
        raise RecordError(ERR_BAD_VALUE, "%s seq %r out of range 1..0xFFFFFFFF"
                          % (TYPE_NAMES[rtype], seq))
    fields = FIELDS[rtype]
    nf = len(fields)
    if len(values) < nf:
        raise RecordError(ERR_BAD_VALUE, "%s needs %d values, got %d"
                          % (TYPE_NAMES[rtype], nf, len(values)))
    buf[offset] = MAGIC
    buf[offset + 1] = rtype
    buf[offset + 2] = LAYOUT_VERSION
    buf[offset + 3] = plen
    struct.pack_into("<I", buf, offset + 4, seq)
    pos = offset + HEADER_LEN
    for i in range(nf):
        v = values[i]
        c = fields[i][1]
        if not isinstance(v, int) or not _LO[c] <= v <= _HI[c]:
            raise RecordError(ERR_BAD_VALUE, "%s field %s=%r out of range %d..%d"
                              % (TYPE_NAMES[rtype], fields[i][0], v, _LO[c], _HI[c]))
        struct.pack_into(_PFX[c], buf, pos, v)
        pos += _SIZE[c]
    if crcview is not None and len(crcview) != pos - offset:
        raise RecordError(ERR_NO_ROOM, "crcview has %d bytes, %s frame needs %d"
                          % (len(crcview), TYPE_NAMES[rtype], pos - offset))
    _crc(buf, offset, pos, _CRC_STORE)
    return n


def frame_len(buf, offset, end=None):
    """Length of the frame whose header starts at buf[offset:], from its header alone.

    Raises RecordError for a truncated header, bad magic, unknown type/version or a payload
    length that does not match the type. Does not check the CRC.
    """
    if end is None:
        end = len(buf)
    if offset >= end:
        raise RecordError(ERR_TRUNCATED, "truncated: no header at offset %d (end %d)" % (offset, end))
    if buf[offset] != MAGIC:
        raise RecordError(ERR_BAD_MAGIC, "bad magic 0x%02x at offset %d (want 0x%02x)"
                          % (buf[offset], offset, MAGIC))
    if offset + HEADER_LEN > end:
        raise RecordError(ERR_TRUNCATED, "truncated header at offset %d: %d of %d bytes"
                          % (offset, end - offset, HEADER_LEN))
    rtype = buf[offset + 1]
    ver = buf[offset + 2]
    plen = buf[offset + 3]
    if ver != LAYOUT_VERSION:
        raise RecordError(ERR_UNKNOWN_VERSION, "unknown layout version %d at offset %d "
                          "(this code reads version %d)" % (ver, offset, LAYOUT_VERSION))
    plan = _PLAN.get(rtype)
    if plan is None:
        raise RecordError(ERR_UNKNOWN_TYPE, "unknown record type %d at offset %d" % (rtype, offset))
    if plen != plan[1]:
        raise RecordError(ERR_BAD_LENGTH, "%s at offset %d has payload_len %d, layout %d says %d"
                          % (TYPE_NAMES[rtype], offset, plen, ver, plan[1]))
    return plen + OVERHEAD


def valid_len(buf, offset=0, end=None):
    """Length of the complete, CRC-valid frame at buf[offset:end], or -ERR_* (never raises).

    For scanning (flash recovery, resync): allocates nothing on a failure before the CRC.
    """
    if end is None:
        end = len(buf)
    if offset + HEADER_LEN > end:
        return -ERR_TRUNCATED
    if buf[offset] != MAGIC:
        return -ERR_BAD_MAGIC
    if buf[offset + 2] != LAYOUT_VERSION:
        return -ERR_UNKNOWN_VERSION
    plan = _PLAN.get(buf[offset + 1])
    if plan is None:
        return -ERR_UNKNOWN_TYPE
    if buf[offset + 3] != plan[1]:
        return -ERR_BAD_LENGTH
    n = plan[1] + OVERHEAD
    if offset + n > end:
        return -ERR_TRUNCATED
    if _crc(buf, offset, offset + n - CRC_LEN, _CRC_CHECK) != 1:
        return -ERR_CRC
    return n


def unpack_from(buf, offset=0, end=None):
    """Decode the frame at buf[offset:end]; return (rtype, seq, values_tuple, nbytes).

    Raises RecordError with a precise reason: ERR_TRUNCATED, ERR_BAD_MAGIC, ERR_UNKNOWN_TYPE,
    ERR_UNKNOWN_VERSION, ERR_BAD_LENGTH or ERR_CRC (each message names the offset).
    """
    if end is None:
        end = len(buf)
    n = frame_len(buf, offset, end)
    rtype = buf[offset + 1]
    if offset + n > end:
        raise RecordError(ERR_TRUNCATED, "truncated %s at offset %d: %d of %d bytes"
                          % (TYPE_NAMES[rtype], offset, end - offset, n))
    pos = offset + n - CRC_LEN
    if _crc(buf, offset, pos, _CRC_CHECK) != 1:
        want = struct.unpack_from("<I", buf, pos)[0]           # error path: may allocate
        got = crc32(memoryview(buf)[offset:pos])
        raise RecordError(ERR_CRC, "CRC mismatch in %s at offset %d: stored 0x%08x, computed 0x%08x"
                          % (TYPE_NAMES[rtype], offset, want, got))
    seq = struct.unpack_from("<I", buf, offset + 4)[0]
    values = struct.unpack_from(_PLAN[rtype][0], buf, offset + HEADER_LEN)
    return rtype, seq, values, n


def to_dict(rtype, values):
    """{field name: value} for a record of type rtype (host convenience; allocates)."""
    f = FIELDS[rtype]
    return {f[i][0]: values[i] for i in range(len(f))}
