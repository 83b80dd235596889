"""Device time -> UTC: the robust anchor fit on degenerate anchor sets (host syncs in quick
succession, all at nearly the same device ms), where a Theil-Sen line alone is undefined
or absurdly steep."""
from __future__ import annotations

import warnings

import numpy as np

from spasmtrack.store.timemap import build_boot_map


def _map(ms, unix_s):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no scipy/numpy warning may escape
        return build_boot_map(np.arange(1, len(ms) + 1), np.array(ms), np.array(unix_s))


def test_a_clock_jump_between_anchors_one_ms_apart_is_rejected_not_fitted_as_drift():
    # Two anchors agree; the third, 1 ms of device time later, is 100 s off: a jump,
    # not a drift of 1e8 ppm.
    bm = _map([5000, 5000, 5001], [100, 100, 200])
    assert bm.rejected_seq == (3,)
    assert set(bm.offset.tolist()) == {95_000}


def test_anchors_at_one_device_time_are_fitted_without_a_slope():
    bm = _map([5000, 5000, 5000], [100, 100, 100])
    assert bm.rejected_seq == ()
    assert bm.to_utc_ms(np.array([5000, 65000])).tolist() == [100_000, 160_000]


def test_real_drift_within_the_bound_is_still_followed():
    # 100 ppm fast crystal over 10 h of device time, 11 anchors, one 1-hour clock jump.
    ms = np.arange(11) * 3_600_000
    unix_ms = 1_700_000_000_000 + (ms * (1 + 100e-6)).astype(np.int64)
    unix_s = unix_ms // 1000
    unix_s[5] += 3600
    bm = _map(ms.tolist(), unix_s.tolist())
    assert bm.rejected_seq == (6,)
    got = bm.to_utc_ms(np.array([ms[-1]]))[0]
    assert abs(got - unix_ms[-1]) <= 1000      # the anchors' own 1 s resolution
