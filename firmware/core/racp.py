"""spasmtrack BLE wire protocol (hardware-free; runs unchanged on MicroPython and CPython).

The host loads this very file (``spasmtrack.ble.protocol``), so UUIDs and opcodes exist once.

Record access control point (RACP-style, after the Bluetooth RACP; operands are u32 record
sequence numbers, filter type 0x01 = sequence number). Writes to the control point::

    REPORT  01 01                 all stored records
    REPORT  01 03 01 <seq u32>    records with seq >= seq
    DELETE  02 02 01 <seq u32>    host has stored everything <= seq: the device may reclaim it
                                  (flash-log ack; nothing is erased before it is acknowledged)
    ABORT   03 00                 stop a running report
    COUNT   04 01 | 04 03 01 <seq u32>

Responses are indications on the control point::

    05 00 <count u32>                      number of stored records
    06 00 <request opcode> <response code> (RSP_* below)

Records are notified on the records characteristic, packed to the negotiated MTU: every
notification is ``header u8 | bytes of consecutive record frames``; header bits 0-6 are a
rolling notification counter (mod 128), bit 7 set means the notification starts inside a
frame begun in the previous one (frames longer than MTU-4 are split). A host that sees a
counter jump drops its partial frame and asks again from its last stored seq.

Current Time (0x2A2B, 10 bytes): year u16, month, day, hours, minutes, seconds, day of
week, fractions256, adjust reason: UTC. Local Time Information (0x2A0F): tz i8 in quarter
hours, dst u8. Status (STATUS_FMT): see STATUS_FIELDS. Live envelope stream: notifications
of ``counter u8 | n x u16`` envelope samples in 0.1 uV at 100 Hz; written 01 to start, 00
to stop (best effort: a live sample that finds the stack queue full is skipped, it is not
a record).
"""
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import struct

SERVICE_UUID = "a5e10001-5e7a-4c1d-9b2a-7370616d7472"
RECORDS_UUID = "a5e10002-5e7a-4c1d-9b2a-7370616d7472"
RACP_UUID = "a5e10003-5e7a-4c1d-9b2a-7370616d7472"
LIVE_UUID = "a5e10004-5e7a-4c1d-9b2a-7370616d7472"
STATUS_UUID = "a5e10005-5e7a-4c1d-9b2a-7370616d7472"
CONFIG_UUID = "a5e10006-5e7a-4c1d-9b2a-7370616d7472"
# The advertised name starts with this (and names no condition); a device advertises its
# name only while its pairing window is open, otherwise only flags (a private address).
ADV_NAME_PREFIX = "ST-"
DIS_UUID16 = const(0x180A)
BAS_UUID16 = const(0x180F)
CTS_UUID16 = const(0x1805)
MANUFACTURER_UUID16 = const(0x2A29)
MODEL_UUID16 = const(0x2A24)
FIRMWARE_REV_UUID16 = const(0x2A26)
BATTERY_LEVEL_UUID16 = const(0x2A19)
CURRENT_TIME_UUID16 = const(0x2A2B)
LOCAL_TIME_UUID16 = const(0x2A0F)

OP_REPORT = const(0x01)
OP_DELETE = const(0x02)
OP_ABORT = const(0x03)
OP_COUNT = const(0x04)
OP_COUNT_RSP = const(0x05)
OP_RSP = const(0x06)

OPER_NULL = const(0x00)
OPER_ALL = const(0x01)
OPER_LE = const(0x02)
OPER_GE = const(0x03)
FILTER_SEQ = const(0x01)

RSP_SUCCESS = const(0x01)
RSP_OPCODE_NOT_SUPPORTED = const(0x02)
RSP_INVALID_OPERATOR = const(0x03)
RSP_OPERATOR_NOT_SUPPORTED = const(0x04)
RSP_INVALID_OPERAND = const(0x05)
RSP_NO_RECORDS = const(0x06)
RSP_ABORT_UNSUCCESSFUL = const(0x07)
RSP_NOT_COMPLETED = const(0x08)
RSP_OPERAND_NOT_SUPPORTED = const(0x09)
RSP_BUSY = const(0x0A)   # a report is running: only ABORT is accepted

HDR_CONT = const(0x80)
HDR_COUNTER_MASK = const(0x7F)

CTS_LEN = const(10)
STATUS_FMT = "<BIIIIHHHIH"
# peer_id: the id the device knows the reading host's bond by (the one ACK records name)
STATUS_FIELDS = ("battery_pct", "last_seq", "acked_seq", "first_seq", "dropped_samples",
                 "coverage_pm", "fw_version", "config_version", "boot_ms", "peer_id")


def parse(cmd):
    """Validate a control-point write. Returns (opcode, seq) or raises ValueError(rsp_code, op).

    seq is the operand (0 when the command has none)."""
    n = len(cmd)
    if n < 2:
        raise ValueError(RSP_INVALID_OPERATOR if n == 1 else RSP_OPCODE_NOT_SUPPORTED,
                         cmd[0] if n else 0)
    op = cmd[0]
    oper = cmd[1]
    if op == OP_ABORT:
        if oper != OPER_NULL:
            raise ValueError(RSP_INVALID_OPERATOR, op)
        if n != 2:
            raise ValueError(RSP_INVALID_OPERAND, op)
        return op, 0
    if op == OP_REPORT or op == OP_COUNT:
        if oper == OPER_ALL:
            if n != 2:
                raise ValueError(RSP_INVALID_OPERAND, op)
            return op, 1
        if oper != OPER_GE:
            raise ValueError(RSP_OPERATOR_NOT_SUPPORTED if oper <= 6 else RSP_INVALID_OPERATOR, op)
    elif op == OP_DELETE:
        if oper != OPER_LE:
            raise ValueError(RSP_OPERATOR_NOT_SUPPORTED if oper <= 6 else RSP_INVALID_OPERATOR, op)
    else:
        raise ValueError(RSP_OPCODE_NOT_SUPPORTED, op)
    if n < 3:
        raise ValueError(RSP_INVALID_OPERAND, op)
    if cmd[2] != FILTER_SEQ:
        raise ValueError(RSP_OPERAND_NOT_SUPPORTED, op)
    if n != 7:
        raise ValueError(RSP_INVALID_OPERAND, op)
    seq = struct.unpack_from("<I", cmd, 3)[0]
    if seq == 0 and op != OP_DELETE:
        raise ValueError(RSP_INVALID_OPERAND, op)
    return op, seq


def report_from(seq):
    return struct.pack("<BBBI", OP_REPORT, OPER_GE, FILTER_SEQ, seq)


def count_from(seq):
    return struct.pack("<BBBI", OP_COUNT, OPER_GE, FILTER_SEQ, seq)


def delete_to(seq):
    return struct.pack("<BBBI", OP_DELETE, OPER_LE, FILTER_SEQ, seq)


def abort():
    return bytes((OP_ABORT, OPER_NULL))


def _days_from_civil(y, m, d):
    # Howard Hinnant's algorithm; days since 1970-01-01 (proleptic Gregorian).
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_MDAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def cts_to_unix(b):
    """Current Time characteristic value -> unix seconds (UTC); ValueError if malformed."""
    if len(b) != CTS_LEN:
        raise ValueError("current time must be %d bytes, got %d" % (CTS_LEN, len(b)))
    y, mo, d, h, mi, s = struct.unpack_from("<HBBBBB", b, 0)
    if not (2020 <= y <= 2105 and 1 <= mo <= 12 and 1 <= d <= _MDAYS[mo - 1]
            and h < 24 and mi < 60 and s < 60):
        raise ValueError("current time out of range")
    if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        raise ValueError("current time: %d has no 29 February" % y)
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def cts_fraction_ms(b):
    """The Current Time value's Fractions256 field in ms (0-996): how far past ``unix_s``."""
    return (b[8] * 1000) >> 8


def unix_to_cts(t, adjust_reason=1):
    """unix seconds (UTC, fractional allowed) -> Current Time characteristic value (CPython
    helper); the fraction goes into Fractions256 so the device can anchor to the ms."""
    whole = int(t // 1)
    frac256 = int((t - whole) * 256)
    days, rem = divmod(whole, 86400)
    # civil_from_days
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y += m <= 2
    dow = (days + 3) % 7 + 1   # 1 = Monday
    return struct.pack("<HBBBBBBBB", y, m, d, rem // 3600, rem // 60 % 60, rem % 60, dow, frac256,
                       adjust_reason)
