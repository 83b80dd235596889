# The bond store (firmware/device/ble_peripheral.BondStore) in NimBLE's shapes, on MicroPython:
# sec_type 1/2 with 7-byte ble_addr_t keys and 80-byte ble_store_value_sec values, the
# identity key (type 10), at most MAX_BONDS bonds with the oldest evicted, get/set without
# allocation (they run inside the BLE IRQ) and the file written only by save().
import os
import struct

import micropython
import simwire as W
from device import ble_peripheral as BP
from mpunit import assert_equal

PATH = "/tmp/mpt_ble_bonds.bin"


def _fresh():
    for p in (PATH, PATH + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    return BP.BondStore(PATH)


def _key(n):
    return bytes((1, n, 0, 0, 0x5A, 0xC2, 0))       # random address, LE, as NimBLE keys it


def _value(n, authenticated=True):
    flags = W.SEC_FLAG_SC | (W.SEC_FLAG_AUTHENTICATED if authenticated else 0)
    return struct.pack(W.SEC_VALUE_FMT, _key(n), 16, 0, 0, bytes((n,)) * 16, 1,
                       bytes((n + 1,)) * 16, 1, bytes(16), flags)


def test_value_layout_is_the_sim_stacks():
    # the firmware reads the authenticated bit where the sim stack (simwire) writes it
    assert_equal((BP.VALUE_LEN, BP.VALUE_FLAGS, BP.VALUE_AUTHENTICATED, BP.KEY_LEN),
                 (W.SEC_VALUE_LEN, W.SEC_FLAGS_OFFSET, W.SEC_FLAG_AUTHENTICATED, W.SECRET_KEY_LEN))
    assert_equal(struct.calcsize(W.SEC_VALUE_FMT), 80)
    assert BP.authenticated_value(_value(3))
    assert not BP.authenticated_value(_value(3, authenticated=False))


def test_bonds_and_identity_key_survive_a_reboot():
    s = _fresh()
    assert s.get(W.SECRET_PEER_SEC, 0, None) is None
    assert s.get(W.SECRET_OUR_IRK, 0, memoryview(W.SECRET_IRK_KEY)) is None
    assert s.set(W.SECRET_OUR_IRK, memoryview(W.SECRET_IRK_KEY), memoryview(b"I" * 16))
    for n in (1, 2):
        assert s.set(W.SECRET_PEER_SEC, memoryview(_key(n)), memoryview(_value(n)))
        assert s.set(W.SECRET_OUR_SEC, memoryview(_key(n)), memoryview(_value(n)))
    assert s.dirty and not _exists()            # the IRQ side never writes the file
    s.save()
    s2 = BP.BondStore(PATH)                     # the next boot
    assert_equal(bytes(s2.get(W.SECRET_OUR_IRK, 0, memoryview(W.SECRET_IRK_KEY))), b"I" * 16)
    assert_equal(bytes(s2.get(W.SECRET_PEER_SEC, 0, memoryview(_key(2)))), _value(2))
    assert_equal(bytes(s2.get(W.SECRET_PEER_SEC, 1, None)), _value(2))   # iterate by index
    assert s2.get(W.SECRET_PEER_SEC, 2, None) is None
    assert s2.set(W.SECRET_PEER_SEC, memoryview(_key(1)), None)            # delete
    assert s2.get(W.SECRET_PEER_SEC, 0, memoryview(_key(1))) is None
    assert s2.get(W.SECRET_OUR_SEC, 0, memoryview(_key(1))) is not None    # only that type


def _exists():
    try:
        os.stat(PATH)
        return True
    except OSError:
        return False


def test_at_most_max_bonds_the_oldest_is_evicted():
    s = _fresh()
    for n in range(1, BP.MAX_BONDS + 2):
        assert s.set(W.SECRET_PEER_SEC, memoryview(_key(n)), memoryview(_value(n)))
        assert s.set(W.SECRET_OUR_SEC, memoryview(_key(n)), memoryview(_value(n)))
    assert_equal((s.count(), s.evicted), (BP.MAX_BONDS, 1))
    assert s.get(W.SECRET_PEER_SEC, 0, memoryview(_key(1))) is None      # the first host went
    assert s.get(W.SECRET_OUR_SEC, 0, memoryview(_key(1))) is None
    for n in range(2, BP.MAX_BONDS + 2):
        assert s.get(W.SECRET_PEER_SEC, 0, memoryview(_key(n))) is not None
    s.save()
    assert_equal(BP.BondStore(PATH).count(), BP.MAX_BONDS)


def test_secret_irq_handlers_do_not_allocate():
    s = _fresh()
    keys = [memoryview(_key(n)) for n in range(1, 7)]
    vals = [memoryview(_value(n)) for n in range(1, 7)]
    irk_key = memoryview(W.SECRET_IRK_KEY)
    irk = memoryview(b"K" * 16)
    micropython.heap_lock()
    try:
        s.set(W.SECRET_OUR_IRK, irk_key, irk)
        for i in range(6):                       # includes evictions
            s.set(W.SECRET_PEER_SEC, keys[i], vals[i])
            s.set(W.SECRET_OUR_SEC, keys[i], vals[i])
        got = s.get(W.SECRET_PEER_SEC, 0, keys[5])
        first = s.get(W.SECRET_PEER_SEC, 0, None)
        irk_got = s.get(W.SECRET_OUR_IRK, 0, irk_key)
        s.set(W.SECRET_PEER_SEC, keys[5], None)
    finally:
        micropython.heap_unlock()
    assert_equal(bytes(got), bytes(vals[5]))
    assert first is not None and bytes(irk_got) == b"K" * 16
