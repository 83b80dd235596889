"""The corpus's ``displaced`` class does what synth/corpus/daily.py says: about half of its
spasms leave the limb resting in a new posture (gravity turned by 20-70 deg for at least
10 s), the others bring it back, both measured from the rendered IMU; voluntary posture
changes (repositions, rolls) and slow returns are there and are not labelled."""
from __future__ import annotations

import math

import numpy as np
import pytest

from spasmtrack.synth.corpus import build_corpus, daily, generate, generator
from spasmtrack.synth.corpus.generator import FS

EVENTS = ("spasm", "spasm_with_clonus")
IMU_STEP = FS // generator.IMU_FS        # the IMU is held for 10 EMG samples


@pytest.fixture(scope="module")
def recs() -> list[tuple[generator.SynthRecording, np.ndarray, np.ndarray]]:
    out = []
    for spec in build_corpus(1, classes=["displaced"]):
        rec = generate(spec)
        x, imu = rec.signal()
        out.append((rec, x, imu))
    return out


def _g(imu: np.ndarray, a: float, b: float) -> np.ndarray:
    """Mean accelerometer vector (g) from a to b s."""
    return imu[:3, int(a * FS):int(b * FS):IMU_STEP].mean(axis=1)


def _turn(g0: np.ndarray, g1: np.ndarray) -> float:
    return math.degrees(math.acos(min(1.0, float(g0 @ g1 / np.linalg.norm(g0) / np.linalg.norm(g1)))))


def _episodes(rec: generator.SynthRecording) -> list[tuple[generator.Item, generator.Item, generator.Label]]:
    """(episode, its pose item, its label) in time order."""
    eps = [i for i in rec.items if i.kind in EVENTS]
    poses = {p.extra["episode"]: p for p in rec.items if p.kind == "pose"}
    assert len(eps) == len(rec.labels) == len(poses)
    return [(e, poses[e.t0], lab) for e, lab in zip(eps, rec.labels)]


def test_half_of_the_spasms_leave_the_limb_displaced(recs) -> None:
    contexts = []
    n = {"displaced": 0, "returning": 0}
    for rec, _, _ in recs:
        assert rec.spec.duration_s == 600.0 and rec.spec.rule10
        contexts.append(rec.spec.context)
        eps = _episodes(rec)
        assert len(eps) >= 10
        for it, _, lab in eps:
            n[it.extra["pose"]] += 1
            assert lab.context == rec.spec.context
            assert lab.shape in ("jerk", "plateau", "bursts")
        assert {l.kind for l in rec.labels} == set(EVENTS)
    assert contexts == ["sleep", "rest"]
    share = n["displaced"] / (n["displaced"] + n["returning"])
    assert n["displaced"] >= 8 and 0.3 <= share <= 0.7, n


def test_displaced_spasms_turn_gravity_for_good_and_returning_ones_bring_it_back(recs) -> None:
    turns: dict[str, list[float]] = {"displaced": [], "returning": []}
    peak_out = []
    for rec, _, imu in recs:
        for it, pose, lab in _episodes(rec):
            g0 = _g(imu, it.t0 - 2.0, it.t0 - 0.05)                   # at rest before the episode
            ts, dur, deg = it.extra["move"]
            assert it.t0 + 0.05 - 1e-9 <= ts and ts + dur <= lab.offset_s    # moved during the episode
            if it.extra["pose"] == "displaced":
                # still there 0.5-10 s after the episode's end (held at least 10 s)
                assert pose.t1 >= it.t1 + 10.0 - 1e-9
                g1 = _g(imu, it.t1 + 0.5, it.t1 + 10.0)
                turn = _turn(g0, g1)
                assert abs(turn - deg) < 1.0 and 20.0 - 1.0 <= turn <= 70.0 + 1.0, (turn, deg)
            else:
                # back where it was once the pose item (episode and fall back) is over
                g1 = _g(imu, pose.t1 + 0.1, pose.t1 + 3.0)
                turn = _turn(g0, g1)
                assert turn < 1.0, (turn, it.t0)
                if it.kind == "spasm":        # it did move out by the drawn angle on the way
                    k = int((ts + dur) * FS)
                    assert abs(_turn(g0, imu[:3, k - 5 * IMU_STEP:k:IMU_STEP].mean(axis=1)) - deg) < 3.0
            turns[it.extra["pose"]].append(turn)
            if it.kind == "spasm":            # the gyro integrates to the same rotation
                a, b = int(ts * FS), int((ts + dur) * FS) + IMU_STEP
                w = imu[3:, a:b:IMU_STEP].sum(axis=1) / generator.IMU_FS
                assert abs(np.linalg.norm(w) - deg) < 0.03 * deg + 1.0, (np.linalg.norm(w), deg)
                peak_out.append(np.linalg.norm(imu[3:, a:b:IMU_STEP], axis=0).max())
    assert min(turns["displaced"]) >= 19.0 and max(turns["returning"]) < 1.0
    assert len(turns["displaced"]) >= 8 and len(turns["returning"]) >= 8
    assert 50.0 <= min(peak_out) and max(peak_out) <= 320.0, (min(peak_out), max(peak_out))


def test_voluntary_posture_changes_and_slow_returns_are_there_and_not_labelled(recs) -> None:
    seen = {"roll": 0, "reposition": 0, "return": 0}
    for rec, x, imu in recs:
        vol = [(a, b, k) for a, b, k in rec.distractors if k in seen]
        for a, b, k in vol:
            seen[k] += 1
            for lab in rec.labels:
                assert lab.offset_s + 3.0 <= a or lab.onset_s >= b + 3.0, (a, k, lab)
            turn = _turn(_g(imu, a - 2.0, a - 0.05), _g(imu, b + 0.05, b + 3.0))
            # median |EMG|: robust to the QRS complexes of the ECG bleed
            bg = np.median(np.abs(x[int((a - 2.0) * FS):int((a - 0.1) * FS)]))
            mid = np.median(np.abs(x[int((a + 0.4 * (b - a)) * FS):int((a + 0.6 * (b - a)) * FS)]))
            if k == "return":          # slow, by the hands or a carer: no EMG of the sensed muscle
                assert 3.0 <= b - a <= 8.0 and 20.0 - 1.0 <= turn <= 70.0 + 1.0
                assert mid < 1.3 * bg and np.abs(imu[3:, int(a * FS):int(b * FS)]).max() < 50.0
            else:                      # voluntary: a burst of EMG with the movement
                assert mid > 2.0 * bg and turn >= 14.0, (k, a, turn)
                assert (1.0 if k == "roll" else 1.5) <= b - a <= (3.0 if k == "roll" else 4.0)
        if rec.spec.context == "rest":
            assert not any(k == "roll" for *_, k in vol)     # no rolling over in the chair
    assert seen["roll"] >= 1 and seen["reposition"] >= 5 and seen["return"] >= 2, seen


def test_displaced_class_is_independent_of_the_generator_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = build_corpus(2, scale=0.25, classes=["displaced"])[1]
    x0, i0 = generate(spec).signal()
    monkeypatch.setattr(generator, "CHUNK", 2730)
    rec = generate(spec)
    assert rec.moves and len(list(rec.chunks())) > math.ceil(spec.duration_s * FS / 10000)
    x1, i1 = rec.signal()
    assert np.array_equal(x0, x1)
    d = (i0 - i1)[:, ::IMU_STEP]        # only the IMU's white noise is drawn per chunk
    d = d[:, :d.shape[1] // 100 * 100].reshape(6, -1, 100).mean(axis=2)
    assert np.abs(d[:3]).max() < 0.003 and np.abs(d[3:]).max() < 0.2


def test_rotate_agrees_with_the_roll_about_x() -> None:
    # the displaced class's general rotation is the other classes' roll about x
    phi = np.array([-80.0, -10.0, 0.0, 35.0, 120.0])
    imu = np.zeros((6, len(phi)))
    daily.add_rotation(imu, phi, np.zeros(len(phi)))
    g = daily.rotate(np.array(daily.G_REST)[:, None] * np.ones(len(phi)), np.array([1.0, 0.0, 0.0]), -phi)
    assert np.allclose(g - np.array(daily.G_REST)[:, None], imu[:3], atol=1e-12)
