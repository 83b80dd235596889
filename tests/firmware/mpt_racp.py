# The BLE wire protocol (firmware/core/racp.py) on MicroPython itself (the bond store:
# mpt_ble_bonds.py).
import struct

from core import racp as P
from mpunit import assert_equal, assert_raises


def test_parse_valid_commands():
    assert_equal(P.parse(P.report_from(7)), (P.OP_REPORT, 7))
    assert_equal(P.parse(bytes((P.OP_REPORT, P.OPER_ALL))), (P.OP_REPORT, 1))
    assert_equal(P.parse(P.count_from(3)), (P.OP_COUNT, 3))
    assert_equal(P.parse(P.delete_to(0x12345678)), (P.OP_DELETE, 0x12345678))
    assert_equal(P.parse(P.abort()), (P.OP_ABORT, 0))


def test_parse_malformed_commands_name_the_racp_error():
    cases = ((b"", P.RSP_OPCODE_NOT_SUPPORTED), (b"\x01", P.RSP_INVALID_OPERATOR),
             (b"\x07\x01", P.RSP_OPCODE_NOT_SUPPORTED), (b"\x01\x04", P.RSP_OPERATOR_NOT_SUPPORTED),
             (b"\x01\x09", P.RSP_INVALID_OPERATOR), (b"\x01\x03", P.RSP_INVALID_OPERAND),
             (b"\x01\x03\x05\x00\x00\x00\x00", P.RSP_OPERAND_NOT_SUPPORTED),
             (b"\x01\x03\x01\x00\x00\x00\x00", P.RSP_INVALID_OPERAND),
             (b"\x02\x01", P.RSP_OPERATOR_NOT_SUPPORTED), (b"\x03\x00\x00", P.RSP_INVALID_OPERAND),
             (b"\x01\x01\x00", P.RSP_INVALID_OPERAND))
    for cmd, code in cases:
        e = assert_raises(ValueError, P.parse, cmd)
        assert_equal(e.args[0], code, cmd)


def test_current_time_round_trip_and_validation():
    for t in (1577836800, 1795520811, 1709164800, 4102444799):   # incl. 29 Feb 2024
        assert_equal(P.cts_to_unix(P.unix_to_cts(t)), t)
    b = bytearray(P.unix_to_cts(1795520811))
    b[2] = 13                                                     # month 13
    assert_raises(ValueError, P.cts_to_unix, b)
    assert_raises(ValueError, P.cts_to_unix, b"\x00" * 9)
    feb29 = struct.pack("<HBBBBBBBB", 2025, 2, 29, 0, 0, 0, 1, 0, 0)
    assert_raises(ValueError, P.cts_to_unix, feb29)


def test_current_time_carries_the_fraction_of_a_second():
    b = P.unix_to_cts(1795520811.75)
    assert_equal(P.cts_to_unix(b), 1795520811)
    assert_equal(P.cts_fraction_ms(b), 750)
    assert_equal(P.cts_fraction_ms(P.unix_to_cts(1795520811)), 0)
