# The sim board's BLE wire: the ONE definition of the frames between the sim board's
# `bluetooth` module (boards/sim/bluetooth.py, MicroPython) and the bridge that owns its
# Bumble host stack (host/spasmtrack/ble/simbridge.py, CPython, which loads this very file).
#
# Frame, both directions:  u16 length (LE, counts opcode + body) | u8 opcode | body
# body = the fixed fields packed with FMT[opcode] (little-endian struct format), then a
# variable-length tail (names, attribute values, keys...). pack()/unpack() are all either
# side uses; tests/test_ble_simwire.py runs both sides and ties them.
#
# Also here: NimBLE's bond record as MicroPython hands it to _IRQ_SET_SECRET (the sim
# stack builds it, the firmware stores it opaquely): struct ble_store_value_sec, 80 bytes
# on GCC targets (ESP32, unix), keyed by a 7-byte ble_addr_t (type u8 | address, LE).
import struct

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# board -> bridge
OP_HELLO = const(0x01)       # our address (6 bytes, MSB first), tx buffers | tail: gap name
OP_ACTIVE = const(0x02)      # on
OP_CONFIG = const(0x03)      # mtu, io, bond, mitm, le_secure, addr_mode | tail: gap name
OP_ADV = const(0x04)         # interval_us (0 = stop), connectable, adv_len | tail: adv + resp
OP_REGISTER = const(0x05)    # tail: service table (see simbridge.BoardSession.register)
OP_GWRITE = const(0x06)      # handle, send_update | tail: value
OP_NOTIFY = const(0x07)      # conn, handle | tail: value
OP_INDICATE = const(0x08)    # conn, handle | tail: value
OP_SETBUF = const(0x09)      # handle, length, append
OP_DISCONNECT = const(0x0A)  # conn
OP_PAIR = const(0x0B)        # conn
OP_REPLY = const(0x0C)       # request id | tail: answer (bytes; empty = None)
OP_CONTROL = const(0x0D)     # kind, arg (test control client: air faults)
OP_PASSKEY = const(0x0E)     # conn, action, passkey (gap_passkey)
# bridge -> board
EV_OK = const(0x81)          # tail: our address (6 bytes, MSB first) or empty
EV_HANDLES = const(0x85)     # tail: u16 handles in registration order
EV_CONNECT = const(0x90)     # conn, addr_type, addr (6 bytes, MSB first)
EV_DISCONNECT = const(0x91)  # conn, addr_type, addr
EV_WRITE = const(0x92)       # conn, handle | tail: the stored value
EV_READREQ = const(0x93)     # request id, conn, handle (answer: u8 ATT error or 0)
EV_MTU = const(0x94)         # conn, mtu
EV_ENC = const(0x95)         # conn, encrypted, authenticated, bonded, key_size
EV_GETSECRET = const(0x96)   # request id, sec_type, index | tail: key (empty = None)
EV_SETSECRET = const(0x97)   # request id, sec_type, key_len | tail: key + value (none = delete)
EV_INDDONE = const(0x98)     # conn, handle, status
EV_TXDONE = const(0x99)      # conn, buffers freed
EV_PASSKEY = const(0x9A)     # conn, action, passkey

FMT = {
    OP_HELLO: "<6sH", OP_ACTIVE: "<B", OP_CONFIG: "<HBBBBB", OP_ADV: "<IBB", OP_REGISTER: "<",
    OP_GWRITE: "<HB", OP_NOTIFY: "<HH", OP_INDICATE: "<HH", OP_SETBUF: "<HHB",
    OP_DISCONNECT: "<H", OP_PAIR: "<H", OP_REPLY: "<H", OP_CONTROL: "<BI", OP_PASSKEY: "<HBI",
    EV_OK: "<", EV_HANDLES: "<", EV_CONNECT: "<HB6s", EV_DISCONNECT: "<HB6s", EV_WRITE: "<HH",
    EV_READREQ: "<HHH", EV_MTU: "<HH", EV_ENC: "<HBBBB", EV_GETSECRET: "<HBH",
    EV_SETSECRET: "<HBB", EV_INDDONE: "<HHB", EV_TXDONE: "<HH", EV_PASSKEY: "<HBI",
}

# control kinds (after OP_CONTROL)
CTL_STALL = const(1)     # withhold transmit completions for arg ms
CTL_DUP = const(2)       # duplicate the next arg notifications
CTL_SWAP = const(3)      # swap the next notification with the one after
CTL_CORRUPT = const(4)   # flip a byte in the next arg notifications
CTL_DROP = const(5)      # end every link as a connection timeout

# passkey actions (MicroPython _PASSKEY_ACTION_*, NimBLE BLE_SM_IOACT_*)
PASSKEY_ACTION_INPUT = const(2)
PASSKEY_ACTION_DISPLAY = const(3)
PASSKEY_ACTION_NUMERIC_COMPARISON = const(4)

# secret types (NimBLE BLE_STORE_OBJ_TYPE_OUR_SEC / _PEER_SEC; MicroPython's own IRK)
SECRET_OUR_SEC = const(1)
SECRET_PEER_SEC = const(2)
SECRET_OUR_IRK = const(10)
SECRET_IRK_KEY = b"irk"          # load_irk()'s dummy key
SECRET_KEY_LEN = const(7)        # ble_addr_t: type u8, val[6] (LE)
# struct ble_store_value_sec: peer_addr 7s, key_size u8, ediv u16, (pad 6), rand_num u64,
# ltk 16s, ltk_present u8, irk 16s, irk_present u8, csrk 16s, flags u8 (bit 0 csrk_present,
# bit 1 authenticated, bit 2 sc; the three 1-bit fields share a byte), (pad 5)
SEC_VALUE_FMT = "<7sBH6xQ16sB16sB16sB5x"
SEC_VALUE_LEN = const(80)
SEC_FLAGS_OFFSET = const(74)
SEC_FLAG_CSRK = const(0x01)
SEC_FLAG_AUTHENTICATED = const(0x02)
SEC_FLAG_SC = const(0x04)


def pack(op, *fields, tail=b""):
    """One whole frame (header, fixed fields, tail) as bytes: written in ONE socket write."""
    body = struct.pack(FMT[op], *fields)
    return struct.pack("<HB", 1 + len(body) + len(tail), op) + body + bytes(tail)


def unpack(op, body):
    """(fields tuple, tail bytes) of a frame body (the bytes after the opcode)."""
    fmt = FMT[op]
    n = struct.calcsize(fmt)
    if len(body) < n:
        raise ValueError("short frame")
    return struct.unpack_from(fmt, body, 0), bytes(body[n:])
