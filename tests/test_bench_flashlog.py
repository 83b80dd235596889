"""The flash log benchmark runs and its figures are self-consistent (small run: 2 days)."""
from __future__ import annotations

from spasmtrack import records as R
from spasmtrack.bench import flashlog


def test_flashlog_bench_small_run() -> None:
    r = flashlog.measure(days=2)
    assert r["sizes"]["EVENT"] == R.frame_size(R.TYPE_EVENT) == 48
    assert r["sizes"]["SUMMARY"] == R.frame_size(R.TYPE_SUMMARY) == 45
    cap = r["capacity"]
    assert cap["records_per_day"] == 300 + 288 + 6 + 2
    assert cap["loss_records"] == 0 and cap["days_before_first_rotation_loss"] == 2
    assert cap["reopen_last_seq_ok"] is True
    assert r["append_us"]["log_only"] > 0
