"""The learned screen's walker and table checks on MicroPython (firmware/core/screen.py)."""
from array import array

import micropython
from core import detconfig
from core import screen as SC
from core import screen_table as ST
from mpunit import assert_raises

# dur_ms <= 1000 ? (move_lead_ms <= 200 ? keep : drop) : keep
TREE = (0, 1000, 4,
        11, 200, 3,
        255, 1, 0,
        255, 0, 0,
        255, 1, 0)


def feats(**kw):
    f = array("i", bytes(4 * SC.NF))
    for k in kw:
        f[SC.FEATURES.index(k)] = kw[k]
    return f


def test_walk_follows_the_splits_to_each_leaf():
    t = SC.table(TREE)
    assert SC.walk(t, feats(dur_ms=800, move_lead_ms=0)) == 1
    assert SC.walk(t, feats(dur_ms=800, move_lead_ms=200)) == 1       # <= goes left
    assert SC.walk(t, feats(dur_ms=800, move_lead_ms=201)) == 0
    assert SC.walk(t, feats(dur_ms=1001, move_lead_ms=3000)) == 1
    # the largest feature value a clamp lets through reads the same on a 32-bit word
    assert SC.walk(t, feats(dur_ms=SC.clamp(1 << 29), move_lead_ms=0)) == 1
    assert SC.clamp(1 << 29) == (1 << 26) - 1 and SC.clamp(-5) == 0


def test_malformed_tables_are_refused_at_configuration():
    assert_raises(ValueError, SC.table, ())
    assert_raises(ValueError, SC.table, (0, 5))                    # not whole nodes
    assert_raises(ValueError, SC.table, (0, 5, 0, 255, 1, 0))      # right child not after the left
    assert_raises(ValueError, SC.table, (0, 5, 9, 255, 1, 0, 255, 0, 0))   # right child outside
    assert_raises(ValueError, SC.table, (SC.NF, 5, 2, 255, 1, 0, 255, 0, 0))  # no such feature
    assert_raises(ValueError, SC.table, (255, 2, 0))               # a leaf is 0 or 1
    assert_raises(ValueError, SC.table, (0, -1, 2, 255, 1, 0, 255, 0, 0))  # negative threshold


def test_the_generated_table_is_well_formed_over_the_firmware_features():
    assert tuple(ST.FEATURES) == SC.FEATURES, (ST.FEATURES, SC.FEATURES)
    t = SC.table(ST.NODES)
    assert len(t) >= 3
    # the configuration switch: on by default, off leaves the rules alone
    assert detconfig.DEFAULT.screen_on == 1


def test_walk_allocates_nothing():
    t = SC.table(ST.NODES)
    f = feats(dur_ms=5000, burst_ms=2000, n_bursts=1, move_lead_ms=300, act_mg=10)
    micropython.heap_lock()
    try:
        for _ in range(100):
            SC.walk(t, f)
    finally:
        micropython.heap_unlock()
