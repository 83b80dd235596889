"""The clinic overview query on both databases: windows, device assignment, no-signal."""
from __future__ import annotations

from spasmtrack import records as r
from spasmtrack.doses import DoseInput, DoseLog
from spasmtrack.store import open_store
from spasmtrack.store.overview import clinic_overview

T0 = 1_790_000_000            # unix s: the device's boot 1 starts here
DAY = 86_400_000


def ev(seq, onset_ms):
    return r.encode("EVENT", seq, boot=1, onset_ms=onset_ms, duration_ms=1500, kind=1, channel=0,
                    flags=0, peak_cuv=5000, mean_cuv=2000, area_uvms=300, clonus_chz=0,
                    gyro_peak_ddps=0, acc_peak_mg=0, mvc_pm=0xFFFF, config_version=3)


def summary(seq, start_ms, covered_ds):
    return r.encode("SUMMARY", seq, boot=1, start_ms=start_ms, window_s=300, n_spasm=0,
                    n_clonus=0, spasm_ds=0, clonus_ds=0, covered_ds=covered_ds, lost_ds=0,
                    not_worn_ds=0, dropped_samples=0, n_motion_rejected=0, jitter_us=0,
                    battery_pct=80, config_version=3)


def test_overview_counts_inside_window_and_assignment(db_url):
    st = open_store(db_url)
    for code in ("A", "B", "C"):
        st.add_patient(code, "Europe/Berlin")
    st.assign_device("d1", "A")
    frames = [r.encode("TIME_ANCHOR", 1, boot=1, ms=0, unix_s=T0, tz_quarter_h=4, source=1)]
    # day 0..9: one event a day at noon; summaries of 30 min good signal on days 3 and 8
    frames += [ev(2 + k, k * DAY + DAY // 2) for k in range(10)]
    frames += [summary(20, 3 * DAY, 18_000), summary(21, 8 * DAY, 18_000)]
    st.insert_records("d1", frames)
    # from day 6 the device is worn by B: its days 6..9 belong to B
    st.assign_device("d1", "B", since_utc_ms=T0 * 1000 + 6 * DAY)
    log = DoseLog(st, who="t")
    until = T0 * 1000 + 10 * DAY
    for h in (1, 30):             # 1 h and 30 h before `until`: only the first is in 1 day
        t = (until - h * 3_600_000) // 1000
        log.add("A", DoseInput.parse("baclofen", "10 mg", None, "oral", _iso(t), now=until + DAY))
    ov = {o.code: o for o in clinic_overview(st, until, days=7)}   # days 3..9
    assert [o.code for o in clinic_overview(st, until, days=7)] == ["A", "B", "C"]
    a, b, c = ov["A"], ov["B"], ov["C"]
    assert (a.events, a.good_signal_h, a.doses, a.devices) == (3, 0.5, 2, 1)     # days 3, 4, 5
    assert (b.events, b.good_signal_h, b.doses, b.devices) == (4, 0.5, 0, 1)     # days 6..9
    assert a.events_per_good_h == 6.0 and b.events_per_good_h == 8.0
    assert a.last_sync_utc_ms == b.last_sync_utc_ms is not None
    assert (c.events, c.devices, c.last_sync_utc_ms, c.events_per_good_h) == (0, 0, None, None)
    assert clinic_overview(st, until, days=1)[0].doses == 1


def _iso(unix_s: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(unix_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
