"""The synthetic corpus: seeded, chunk-independent, labelled by its documented rule."""
from __future__ import annotations

import numpy as np

from spasmtrack.synth.corpus import CLASSES, build_corpus, generate
from spasmtrack.synth.corpus.daily import context_at
from spasmtrack.synth.corpus.generator import FS


def test_same_seed_same_recording_and_labels() -> None:
    a = generate(build_corpus(7, scale=0.05, classes=["clonus"])[0])
    b = generate(build_corpus(7, scale=0.05, classes=["clonus"])[0])
    xa, ia = a.signal()
    xb, ib = b.signal()
    assert np.array_equal(xa, xb) and np.array_equal(ia, ib)
    assert [l.__dict__ for l in a.labels] == [l.__dict__ for l in b.labels]
    c = generate(build_corpus(8, scale=0.05, classes=["clonus"])[0])
    assert not np.array_equal(xa[:1000], c.signal()[0][:1000])


def test_labelling_rule() -> None:
    specs = build_corpus(1, scale=0.2)
    assert {s.cls for s in specs} == set(CLASSES)
    n_lab = 0
    for spec in specs:
        rec = generate(spec)
        labs = sorted(rec.labels, key=lambda l: l.onset_s)
        n_lab += len(labs)
        for l in labs:
            assert 0 < l.onset_s < l.offset_s <= spec.duration_s
            assert l.kind in ("spasm", "clonus", "spasm_with_clonus")
            if l.kind == "spasm":    # (the 10 % rule ends a flexor jerk at 2.3 tau: >= 0.69 s)
                assert l.offset_s - l.onset_s >= (0.65 if spec.rule10 else 0.8) and l.clonus_hz is None
            else:
                assert 3.0 <= l.clonus_hz <= 10.0
        for p, q in zip(labs, labs[1:]):
            assert q.onset_s - p.offset_s >= 3.0            # never closer than the merge gap decides
        for a, b in rec.lost:
            for l in labs:
                assert l.offset_s + 3.0 <= a or l.onset_s >= b + 3.0 - 1e-9
        for a, b, kind in rec.distractors:
            assert kind in ("voluntary", "motion", "hum_step", "walk", "push", "ride", "tapping",
                            "stretch", "transfer", "roll", "mains")
            if kind == "voluntary":
                assert b - a <= 0.35
        for l in labs:
            assert l.context == context_at(rec.contexts, l.onset_s)
    assert n_lab > 20


def test_daily_life_activities_drive_the_imu_with_their_own_rhythm() -> None:
    """Gait bursts come with an IMU swing of the same period; a ride shakes the IMU at 10-30 Hz;
    tapping is 2-3 bursts of 0.1-0.4 s, 0.25-0.6 s apart; spasms inside a bout carry its context."""
    seen = set()
    for spec in build_corpus(1, scale=0.25, classes=["walking", "vehicle", "desk"]):
        rec = generate(spec)
        x, imu = rec.signal()
        for it in rec.items:
            a, b = int(it.t0 * FS), int(it.t1 * FS)
            if it.kind == "walk" and b - a > 20 * FS:
                acc = imu[0, a:b:10] - imu[0, a:b:10].mean()       # 100 Hz
                r = np.correlate(acc, acc, "full")[len(acc) - 1:]
                lag = 50 + int(np.argmax(r[50:200]))
                assert abs(100.0 / lag - it.freq) < 0.05, (lag, it.freq)
                gaps = np.diff([c for c, _, _ in it.bursts])
                assert abs(np.median(gaps) * it.freq - 1) < 0.04     # (a spasm may pause the walk)
                assert all(0.08 <= w <= 0.47 for _, w, _ in it.bursts)
                seen.add("walk")
            if it.kind == "ride":
                z = imu[2, a:b:10] - imu[2, a:b:10].mean()
                p = np.abs(np.fft.rfft(z)) ** 2
                f = np.fft.rfftfreq(len(z), 0.01)
                assert p[(f >= 10) & (f <= 30)].sum() > 0.8 * p[f > 1].sum()
                seen.add("ride")
            if it.kind == "tapping":
                assert 2 <= len(it.bursts) <= 3
                assert all(0.1 <= w <= 0.4 for _, w, _ in it.bursts)
                for (c0, w0, _), (c1, w1, _) in zip(it.bursts, it.bursts[1:]):
                    assert 0.25 - 1e-9 <= (c1 - w1 / 2) - (c0 + w0 / 2) <= 0.6 + 1e-9
                seen.add("tapping")
        seen.update(l.context for l in rec.labels)
        seen.update(l.shape for l in rec.labels)
    assert {"walk", "ride", "tapping", "jerk", "waxwane", "crescendo", "plateau"} <= seen, seen


def test_signal_levels_and_lead_off() -> None:
    spec = build_corpus(3, scale=0.1, classes=["leadoff"])[0]
    rec = generate(spec)
    x, imu = rec.signal()
    assert len(x) == int(spec.duration_s * FS) and imu.shape == (6, len(x))
    # resting noise is a few uV; lost spans are railed (beyond any full scale) or exactly flat
    lab = np.zeros(len(x), bool)
    for l in rec.labels:
        lab[int(l.onset_s * FS):int(l.offset_s * FS) + 1] = True
    lost = np.zeros(len(x), bool)
    near = np.zeros(len(x), bool)
    for a, b in rec.lost:
        lost[int(a * FS) + 1:int(b * FS) - 1] = True
        near[int(a * FS) - 1:int(b * FS) + 2] = True
    rest = ~lab & ~near
    assert 1.0 < np.std(x[rest]) < 6.0
    if lost.any():
        v = x[lost]
        assert np.all((v == 0.0) | (v >= 500000.0))
    # the texture is band-limited noise, not a sine: its spectrum spreads over tens of Hz
    l0 = max(rec.labels, key=lambda l: l.offset_s - l.onset_s)
    seg = x[int(l0.onset_s * FS) + 200:int(l0.offset_s * FS) - 200]
    spec_p = np.abs(np.fft.rfft(seg - seg.mean())) ** 2
    f = np.fft.rfftfreq(len(seg), 1 / FS)
    band = (f > 20) & (f < 450)
    p = spec_p[band] / spec_p[band].sum()
    assert (np.sort(p)[::-1].cumsum() < 0.5).sum() > 50       # half the power needs > 50 bins


def test_corpus_cli_writes_replayable_csv_and_labels(tmp_path) -> None:
    import json

    from spasmtrack.synth.corpus.__main__ import main
    from spasmtrack.recording import open_recording

    assert main(["--out", str(tmp_path), "--scale", "0.04", "--classes", "leadoff"]) == 0
    index = json.loads((tmp_path / "labels.json").read_text())
    assert [e["recording"] for e in index] == ["leadoff_1.csv", "leadoff_2.csv"]
    rec = open_recording(tmp_path / "leadoff_1.csv")
    assert rec.info.fs_hz == 1000.0 and rec.info.has_imu
    n = sum(c.emg_uv.shape[1] for c in rec.chunks())
    assert n == int(index[0]["spec"]["duration_s"] * 1000)


def test_spasms_move_the_limb_as_a_rigid_body_would() -> None:
    """Kinematics, not our model, is the reference: the angle the gyro's x rate integrates to
    is the angle the gravity vector turns by in the y-z plane, and a spasm's excursion comes
    back when it relaxes (a tonic spasm holds the limb at an angle; it does not spin it).
    Before this was checked the corpus drove the gyro with the EMG envelope itself: a 6 s
    plateau spun the limb by ~800 degrees while gravity hardly moved."""
    checked = 0
    for spec in build_corpus(1, scale=0.1, classes=["shapes", "clonus", "clean"]):
        rec = generate(spec)
        _, imu = rec.signal()
        g = imu[:3, ::10]                                   # 100 Hz
        tilt = np.degrees(np.unwrap(np.arctan2(g[1], g[2])))
        gyro_angle = np.cumsum(imu[3, ::10]) / 100.0
        for lab in rec.labels:
            a, b = int((lab.onset_s - 1.0) * 100), int((lab.offset_s + 2.0) * 100)
            if a < 0 or b > tilt.size:
                continue
            turned = (tilt[a:b] - tilt[a]) - (gyro_angle[a:b] - gyro_angle[a])   # atan2(y, z) follows phi
            excursion = np.abs(gyro_angle[a:b] - gyro_angle[a]).max()
            assert np.abs(turned).max() < 2.0 + 0.05 * excursion, (spec.name, lab.onset_s)
            assert excursion < 60.0, (spec.name, lab.onset_s, excursion)
            assert abs(gyro_angle[b - 1] - gyro_angle[a]) < 3.0, (spec.name, lab.onset_s)
            checked += 1
    assert checked >= 20
