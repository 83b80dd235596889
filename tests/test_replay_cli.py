"""`spasmtrack replay` end to end on short recordings: the real firmware on MicroPython."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spasmtrack.cli import main
from spasmtrack.replay import load_board_conv, replay_file

HEADER = "t_s,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps"


def write_csv(path: Path, emg: np.ndarray, fs: int = 1000, extra: np.ndarray | None = None,
              header: str = HEADER) -> Path:
    n = len(emg)
    t = np.arange(n) / fs
    imu = np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], (n, 1))
    cols = [t, emg] + ([extra] if extra is not None else []) + [imu]
    a = np.column_stack(cols)
    fmt = ["%.6f"] + ["%.3f"] * (2 if extra is not None else 1) + ["%.3f"] * 6
    with open(path, "w") as fh:
        fh.write(header + "\n")
        np.savetxt(fh, a, fmt=fmt, delimiter=",")
    return path


def spasm_signal(seconds: float = 20.0, bursts=((6.0, 2.0, 40.0),), seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 1000)
    x = rng.normal(0.0, 3.0, n)
    for on, dur, amp in bursts:
        a, b = int(on * 1000), int((on + dur) * 1000)
        x[a:b] += rng.normal(0.0, amp, b - a)
    return x


def test_replay_cli_writes_events_json(tmp_path: Path, capsys) -> None:
    csv = write_csv(tmp_path / "rec.csv", spasm_signal(bursts=((6.0, 2.0, 40.0), (12.0, 0.3, 60.0))))
    out = tmp_path / "events.json"
    summ = tmp_path / "summaries.json"
    assert main(["replay", str(csv), "--out", str(out), "--summaries", str(summ)]) == 0
    events = json.loads(out.read_text())
    assert len(events) == 1, events                     # the 0.3 s burst is not a spasm
    e = events[0]
    assert abs(e["onset_s"] - 6.0) <= 0.1 and abs(e["offset_s"] - 8.0) <= 0.2, e
    assert e["kind"] == "spasm" and e["clonus_hz"] is None
    assert 20 < e["peak_uV"] < 45                      # ARV of 40 uV RMS noise is ~32 uV
    assert e["config_version"] >= 1
    sums = json.loads(summ.read_text())
    assert sums and sums[0]["n_spasm"] == 1 and sums[0]["lost_ds"] == 20     # 2 s warm-up
    err = capsys.readouterr().err
    assert "1 events" in err and "x real time" in err


def test_replay_two_channels_and_clipping(tmp_path: Path) -> None:
    conv = load_board_conv("sim")
    full_uv = conv.adc_max * conv.uv_per_count
    ch1 = spasm_signal(bursts=((5.0, 3.0, 50.0),))
    ch2 = spasm_signal(bursts=((10.0, 2.0, 50.0),), seed=2)
    # an overdriven burst: many samples beyond full scale, clipped by the ADC conversion
    ch2[10000:12000] += np.random.default_rng(3).normal(0.0, 0.8 * full_uv, 2000)
    csv = write_csv(tmp_path / "two.csv", ch1, extra=ch2, header=HEADER.replace("emg_uV", "emg_uV,emg2_uV"))
    res = replay_file(csv)
    assert res.channels == ["emg_uV", "emg2_uV"]
    by_ch = {e["channel"]: e for e in res.events}
    assert set(by_ch) == {0, 1}, res.events
    assert abs(by_ch[0]["onset_s"] - 5.0) < 0.1
    assert "clipped" in by_ch[1]["flags"]
    assert not by_ch[0]["flags"]


def test_detector_parameter_override(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "rec.csv", spasm_signal(bursts=((6.0, 0.3, 60.0),)))
    out = tmp_path / "e.json"
    assert main(["replay", str(csv), "--out", str(out), "--set", "min_duration_ms=200",
                 "--set", "burst_min_ms=200"]) == 0
    ev = json.loads(out.read_text())
    assert len(ev) == 1 and ev[0]["config_version"] & 0x8000, ev


def test_edf_recording_with_channel_mapping(tmp_path: Path) -> None:
    pyedflib = pytest.importorskip("pyedflib")
    x = spasm_signal(bursts=((5.0, 2.0, 40.0),))
    path = tmp_path / "rec.edf"
    labels = ["EMG soleus", "AccX", "AccY", "AccZ", "GyrX", "GyrY", "GyrZ"]
    w = pyedflib.EdfWriter(str(path), len(labels), file_type=pyedflib.FILETYPE_EDFPLUS)
    hdrs = [{"label": labels[0], "dimension": "uV", "sample_frequency": 1000, "physical_max": 3000,
             "physical_min": -3000, "digital_max": 32767, "digital_min": -32768}]
    for lab in labels[1:]:
        dim = "g" if lab.startswith("Acc") else "deg/s"
        hdrs.append({"label": lab, "dimension": dim, "sample_frequency": 100, "physical_max": 16,
                     "physical_min": -16, "digital_max": 32767, "digital_min": -32768})
    w.setSignalHeaders(hdrs)
    imu = [np.zeros(2000)] * 6
    w.writeSamples([x] + imu)
    w.close()
    out = tmp_path / "e.json"
    assert main(["replay", str(path), "--out", str(out), "--emg-label", "EMG soleus",
                 "--acc-labels", "AccX,AccY,AccZ", "--gyro-labels", "GyrX,GyrY,GyrZ"]) == 0
    ev = json.loads(out.read_text())
    assert len(ev) == 1 and abs(ev[0]["onset_s"] - 5.0) < 0.1, ev


def test_corpus_recording_through_replay_scores_and_never_overlaps() -> None:
    from spasmtrack.accuracy.scoring import score
    from spasmtrack.synth.corpus import build_corpus, generate
    from spasmtrack.replay import replay_recording

    for spec in build_corpus(11, scale=0.15, classes=["clonus", "leadoff"]):
        rec = generate(spec)
        res = replay_recording(rec.recording())
        evs = sorted(res.events, key=lambda e: e["onset_s"])
        for a, b in zip(evs, evs[1:]):
            assert a["offset_s"] <= b["onset_s"], (a, b)
        s = score([l.__dict__ for l in rec.labels], evs, spec.duration_s / 3600)
        assert s.f1 >= 0.85, (spec.name, s.as_dict())
        lost = sum(x["lost_ds"] for x in res.summaries) / 10.0
        truth = sum(b - a for a, b in rec.lost)
        assert truth <= lost <= truth + 2.0 + 2.5 * len(rec.lost) + 0.2, (lost, truth)


@pytest.mark.parametrize("fs", [2000, 2048])
def test_recording_faster_than_the_board_is_resampled(tmp_path: Path, fs: int) -> None:
    rng = np.random.default_rng(4)
    n = 20 * fs
    x = rng.normal(0.0, 3.0, n)
    x[6 * fs:8 * fs] += rng.normal(0.0, 40.0, 2 * fs)      # spasm at 6-8 s
    csv = write_csv(tmp_path / "fast.csv", x, fs=fs)
    res = replay_file(csv, chunk_s=3.3)                     # odd chunks: phase carried over
    assert res.seconds == pytest.approx(20.0, abs=0.011)
    assert len(res.events) == 1 and abs(res.events[0]["onset_s"] - 6.0) < 0.05, res.events
    assert abs(res.events[0]["offset_s"] - 8.0) < 0.1
    assert any(f"resampled from {fs} Hz" in n for n in res.notes)
