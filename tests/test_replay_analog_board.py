"""Replay on the esp32-s3 board: a MyoWare-2.0-class analog module (gain 200, AC-coupled)
through a 12-bit ADC, where one count (3.8 uV) is about the resting noise."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spasmtrack.boards import BoardError, check_resolution, load_board, validate
from spasmtrack.cli import main
from spasmtrack.replay import load_board_conv

from test_replay_cli import write_csv

BURSTS = ((6.0, 3.0, 15.0), (16.0, 2.0, 40.0), (26.0, 4.0, 120.0))   # onset s, s, uV RMS


def quiet_spasms(seconds: float = 36.0, noise_uv: float = 1.5, dc_uv: float = 20000.0) -> np.ndarray:
    """Resting noise below one ADC count, a 20 mV electrode offset, three spasms (weak to strong)."""
    rng = np.random.default_rng(7)
    n = int(seconds * 1000)
    x = dc_uv + rng.normal(0.0, noise_uv, n)
    for on, dur, amp in BURSTS:
        if on + dur > seconds:
            continue
        a, b = int(on * 1000), int((on + dur) * 1000)
        x[a:b] += rng.normal(0.0, amp, b - a)
    return x


def test_quiet_signal_sits_in_one_adc_code() -> None:
    """Precondition of the regression: after the module and the 12-bit ADC, many 10 ms ticks
    of a connected, resting muscle are flat (one code) -- the case that was called lead-off."""
    conv = load_board_conv("esp32-s3")
    assert 3.7 < conv.uv_per_count < 3.9
    c = conv.uv_to_counts(quiet_spasms()[None, :5000])[0]
    w = c[1000:].reshape(-1, 10)
    p2p = w.max(axis=1) - w.min(axis=1)
    assert (p2p == 0).mean() > 0.05, (p2p == 0).mean()
    assert abs(np.median(c[1000:])) <= 1          # the 20 mV offset is not in the ADC's input


def test_spasm_recording_replayed_on_esp32s3_detects_its_events(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "rec.csv", quiet_spasms())
    out, summ = tmp_path / "events.json", tmp_path / "summaries.json"
    assert main(["replay", str(csv), "--board", "esp32-s3", "--out", str(out), "--summaries", str(summ)]) == 0
    events = json.loads(out.read_text())
    assert len(events) == len(BURSTS), events
    for e, (on, dur, _) in zip(events, BURSTS):
        assert e["kind"] == "spasm"
        assert abs(e["onset_s"] - on) <= 0.15 and abs(e["offset_s"] - (on + dur)) <= 0.3, (e, on, dur)
    sums = json.loads(summ.read_text())
    assert sum(s["n_spasm"] for s in sums) == len(BURSTS)
    assert sum(s["lost_ds"] for s in sums) == 20       # only the 2 s warm-up; no false lead-off


def test_frontend_streams_like_one_pass_and_removes_dc() -> None:
    fe_a = load_board("esp32-s3").frontend()
    fe_b = load_board("esp32-s3").frontend()
    assert fe_a is not None and load_board("sim").frontend() is None
    x = quiet_spasms(seconds=4.0)[None, :]
    whole = fe_a.process(x)
    parts = np.concatenate([fe_b.process(x[:, s:s + 333]) for s in range(0, x.shape[1], 333)], axis=1)
    np.testing.assert_allclose(parts, whole, atol=1e-9)
    assert abs(whole[0, 100:].mean()) < 1.0


def test_board_too_coarse_for_emg_is_refused() -> None:
    data = json.loads(load_board("esp32-s3").path.read_text())
    data["emg"]["adc_bits"] = 10
    spec_bits = data["emg"]["adc_bits"]
    with pytest.raises(BoardError, match="uV per count"):
        check_resolution("esp32-s3-10bit", 1.55 / 200 / 2 ** (spec_bits - 1) * 1e6)
    with pytest.raises(BoardError):
        validate("esp32-s3-10bit", data)
    check_resolution("esp32-s3", load_board("esp32-s3").uv_per_count)   # 12 bits pass
