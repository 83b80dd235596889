"""The corpus's clinic and home classes (physio, transfer, sleep, prelude, desk_mains, car) do
what synth/corpus/daily.py says: the stretch reflex follows the imposed movement, transfers
and rolls turn the gravity vector, the hum has its third harmonic, episodes are labelled by
the 10 % rule, and none of these activities is labelled."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from spasmtrack.synth.corpus import build_corpus, generate, generator
from spasmtrack.synth.corpus import daily
from spasmtrack.synth.corpus.generator import FS, Item

EVENTS = ("spasm", "clonus", "spasm_with_clonus")


def _recs(cls: str, scale: float) -> list[generator.SynthRecording]:
    return [generate(s) for s in build_corpus(1, scale=scale, classes=[cls])]


def _gravity_turn_deg(imu: np.ndarray, a: float, b: float, before_s: float, after_s: float) -> float:
    """Angle (deg) between the mean accelerometer vector just before a and just after b."""
    g0 = imu[:3, int((a - before_s) * FS):int(a * FS)].mean(axis=1)
    g1 = imu[:3, int(b * FS):int((b + after_s) * FS)].mean(axis=1)
    c = float(g0 @ g1 / np.linalg.norm(g0) / np.linalg.norm(g1))
    return math.degrees(math.acos(min(1.0, c)))


def _overlaps(lab: generator.Label, a: float, b: float) -> bool:
    return lab.onset_s < b and a < lab.offset_s


def test_stretch_reflex_begins_30_to_80_ms_after_the_gyro_rises_and_is_not_labelled() -> None:
    n_stretch = n_provoked = 0
    ratios = []
    for rec in _recs("physio", 0.25):
        x, imu = rec.signal()
        stretches = [it for it in rec.items if it.kind == "stretch"]
        starts = [it.t0 for it in stretches]
        provoked = {it.t0 for it in stretches if it.t1 > it.extra["end"]}
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(5.0 - 1e-9 <= d for d in gaps)                        # a stretch every 5-15 s,
        assert all(d <= 15.0 for a, d in zip(starts, gaps) if a not in provoked)   # later after an episode
        for it in stretches:
            p = it.extra
            # the activity alone, on a 1 ms grid: the movement comes first, the EMG after it
            t = np.arange(int((it.t0 - 0.5) * FS), int((p["end"] + 0.5) * FS)) / FS
            amp, art, rot = np.zeros(len(t)), np.zeros(len(t)), np.zeros((6, len(t)))
            daily.render_clinic(it, t, t, amp, art, rot)
            move_on = t[np.argmax(np.abs(rot[3]) > 0)]
            gyro_seen = t[np.argmax(np.abs(rot[3]) > 5.0)]                  # 25x the gyro's noise
            emg_on = t[np.argmax(amp > 0)]
            assert 0.03 - 0.001 <= emg_on - move_on <= 0.08 + 0.001 and gyro_seen < emg_on, (emg_on, move_on)
            assert 30.0 <= np.abs(rot[3]).max() <= 90.0                      # peak rate of the stretch
            assert abs(np.sum(rot[3]) / FS) < 0.5                             # brought back where it started
            assert abs(rot[3, t < p["ts"] + p["d"]].sum() / FS - p["angle"]) < 0.5
            assert 0.3 <= p["r1"] - p["r0"] <= 1.5 and np.ptp(amp) > 0
            # in the recording: the gyro shows the stretch, the EMG the reflex
            i0, i1 = int(p["ts"] * FS), int((p["ts"] + p["d"]) * FS)
            assert np.abs(imu[3, i0:i1]).max() > 0.8 * abs(p["v"])
            r0, r1 = int(p["r0"] * FS), int(min(p["r1"], p["r0"] + 0.3) * FS)
            ratios.append(np.std(x[r0:r1]) / np.std(x[i0 - 300:i0]))
            # the stretch and its reflex are never labelled; a provoked episode follows the reflex
            for lab in rec.labels:
                assert not _overlaps(lab, p["ts"], p["r1"] - p["fall"])
                if p["r1"] - p["fall"] <= lab.onset_s <= p["r1"] + 0.5:
                    n_provoked += 1
                    assert lab.context == "physio"
            n_stretch += 1
    assert n_stretch >= 20 and 0.1 <= n_provoked / n_stretch <= 0.55, (n_provoked, n_stretch)
    assert np.median(ratios) > 1.5, np.median(ratios)


def test_transfer_turns_the_gravity_vector_and_only_the_spasm_after_it_is_labelled() -> None:
    """Bed-chair transfers tilt the limb for good; transfers between level seats only turn
    it about the vertical (the pivot on gyro z); both kinds are present."""
    n = n_after = n_level = 0
    for rec in _recs("transfer", 0.4):
        x, imu = rec.signal()
        tilts = {t0: deg for t0, _, deg in rec.tilts}
        for it in (i for i in rec.items if i.kind == "transfer"):
            a, b = it.extra["t0"], it.extra["t1"]
            assert 4.0 <= b - a <= 8.0
            turn = _gravity_turn_deg(imu, a, b, 0.5, 0.3)
            assert abs(turn - abs(tilts[a])) < 3.0, (turn, tilts[a])
            if tilts[a] == 0.0:
                n_level += 1
            else:
                assert 20.0 - 3.0 <= turn <= 60.0 + 3.0, (turn, tilts[a])
            # the gyro's x integrates to the same angle; the pivot shows on z
            assert abs(imu[3, int(a * FS):int(b * FS)].sum() / FS - tilts[a]) < 2.0
            assert 40.0 * 0.9 <= np.abs(imu[5, int(a * FS):int(b * FS)]).max() <= 150.0 + 2.0
            assert np.std(x[int((a + 0.4 * (b - a)) * FS):int((a + 0.6 * (b - a)) * FS)]) > \
                2 * np.std(x[int((a - 0.6) * FS):int((a - 0.1) * FS)])              # weight bearing
            for lab in rec.labels:
                assert not _overlaps(lab, a, b)
                if b < lab.onset_s < b + 3.2:
                    n_after += 1
                    assert lab.context == "rest" and lab.kind == "spasm"
            n += 1
        assert {c for *_, c in rec.contexts} == {"transfer"}
    assert n >= 6 and n_after >= 2 and 2 <= n_level <= n - 2, (n, n_after, n_level)


def test_rolls_in_bed_turn_the_gravity_vector_away_from_every_episode() -> None:
    rolls = []
    for rec in _recs("sleep", 1.0):
        x, imu = rec.signal()
        assert [c for *_, c in rec.contexts] == ["sleep"]
        assert all(l.context == "sleep" and l.shape in ("jerk", "plateau", "bursts") for l in rec.labels)
        mine = [it for it in rec.items if it.kind == "roll"]
        assert all(180.0 <= q.t0 - p.t1 for p, q in zip(mine, mine[1:]))
        for it in mine:
            a, b = it.t0, it.t1
            assert 1.0 <= b - a <= 3.0
            deg = next(d for t0, _, d in rec.tilts if t0 == a)
            assert abs(_gravity_turn_deg(imu, a, b, 1.0, 1.0) - abs(deg)) < 3.0
            assert 30.0 * 0.95 <= np.abs(imu[3, int(a * FS):int(b * FS)]).max() <= 120.0 + 2.0
            assert all(l.offset_s + 3.0 <= a or l.onset_s >= b + 3.0 for l in rec.labels)
            rolls.append(it)
    assert len(rolls) >= 3


def test_mains_hum_switches_with_its_third_harmonic_at_the_drawn_ratio() -> None:
    checked = 0
    for rec in _recs("desk_mains", 1.0):
        x, _ = rec.signal()
        assert {c for *_, c in rec.contexts} == {"desk"} and all(l.context == "desk" for l in rec.labels)
        mains = [i for i in rec.items if i.kind == "mains"]
        rec.items = [i for i in rec.items if i.kind != "mains"]
        hum = x - rec.signal()[0]              # what the mains items add to the EMG, uV
        on = np.zeros(len(x), bool)
        for it in mains:
            on[int(round(it.t0 * FS)):int(round(it.t1 * FS))] = True
            assert 30.0 <= it.t1 - it.t0 <= 180.0 or it.t1 >= rec.spec.duration_s - 1e-9
            p = it.extra
            seg = hum[int(it.t0 * FS) + 500:int(it.t0 * FS) + 5500]       # 5 s: whole cycles of 50 and 60 Hz
            spec = np.abs(np.fft.rfft(seg)) * 2 / len(seg)                  # peak amplitude, uV
            f = np.fft.rfftfreq(len(seg), 1 / FS)
            a1, a3 = spec[np.argmin(np.abs(f - p["hz"]))], spec[np.argmin(np.abs(f - 3 * p["hz"]))]
            assert a1 == pytest.approx(p["uv"] * math.sqrt(2), rel=0.01) and 5.0 <= p["uv"] <= 25.0
            assert a3 / a1 == pytest.approx(p["h3"], abs=0.005) and 0.05 <= a3 / a1 <= 0.30
            others = np.delete(spec, [np.argmin(np.abs(f - p["hz"])), np.argmin(np.abs(f - 3 * p["hz"]))])
            assert others.max() < 0.01 * a1                             # no other line: fundamental and third
            checked += 1
        assert np.all(hum[~on] == 0.0) and np.std(hum[on]) > 3.0         # switched off between the spans
        gaps = [q.t0 - p.t1 for p, q in zip(mains, mains[1:])]
        assert all(30.0 <= g <= 180.0 for g in gaps)
    assert checked >= 3


def test_prelude_spasms_are_labelled_by_the_10_percent_rule() -> None:
    # the rule on a hand-made prelude (no slow fluctuations): a tonic ramp to 30 % over 4 s
    rec = _recs("prelude", 0.1)[0]
    it = Item("spasm", 10.0, 20.0, 40.0, 0.05, 0.2, extra={"shape": "prelude", "pre": 0.3, "pre_s": 4.0})
    on, off = rec._span10(it)
    assert on == pytest.approx(10.0 + 4.0 * math.acos(1 - 2 * 0.1 / 0.3) / math.pi, abs=0.002)
    assert off == pytest.approx(20.0 - 0.2 * math.acos(1 - 2 * 0.1) / math.pi, abs=0.002)
    crescendo = Item("spasm", 10.0, 20.0, 40.0, 0.05, 0.2, extra={"shape": "crescendo0", "build": 5.0})
    assert rec._span10(crescendo)[0] == pytest.approx(10.0 + 5.0 * math.acos(0.8) / math.pi, abs=0.002)
    # the generated classes: each label where its episode's envelope crosses 10 % of its peak
    seen = Counter()
    for rec in _recs("prelude", 0.5):
        x, _ = rec.signal()
        events = [i for i in rec.items if i.kind in EVENTS]
        assert len(events) == len(rec.labels) >= 5
        for it, lab in zip(events, rec.labels):
            g = np.arange(int((it.t0 - 1) * FS), int((it.t1 + 1) * FS)) / FS
            env = rec._envelope(it, g)
            k_on, k_off = int(round((lab.onset_s - g[0]) * FS)), int(round((lab.offset_s - g[0]) * FS))
            assert env[k_on - 1] <= 0.1 * env.max() < env[k_on]
            assert env[k_off] > 0.1 * env.max() >= env[k_off + 1]
            p = it.extra
            if p["shape"] == "prelude":     # onset inside the slow ramp when it rises above 10 %
                in_ramp = lab.onset_s < it.t0 + p["pre_s"] - 0.01      # (slow fluctuations: +-45 %)
                assert in_ramp if p["pre"] >= 0.2 else (not in_ramp if p["pre"] <= 0.06 else True)
                seen[("prelude", in_ramp)] += 1
            else:
                assert it.t0 + 0.15 * p["build"] < lab.onset_s < it.t0 + 0.3 * p["build"]
                seen["crescendo0"] += 1
            # in the signal: quiet before the onset, the episode well above the background after
            bg = np.std(x[int((it.t0 - 1.5) * FS):int((it.t0 - 0.5) * FS)])
            peak = np.argmax(env)
            assert np.std(x[int(g[peak] * FS) - 100:int(g[peak] * FS) + 100]) > 1.5 * bg
    assert seen[("prelude", True)] and seen["crescendo0"], seen


def test_clinic_classes_are_independent_of_the_generator_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    specs = [build_corpus(2, scale=0.06, classes=[c])[0] for c in ("physio", "sleep", "desk_mains", "car")]
    specs[1] = build_corpus(2, scale=0.3, classes=["sleep"])[0]        # long enough for a roll
    ref = [generate(s).signal() for s in specs]
    monkeypatch.setattr(generator, "CHUNK", 2730)
    for s, (x0, i0) in zip(specs, ref):
        rec = generate(s)
        assert len(list(rec.chunks())) > math.ceil(s.duration_s * FS / 10000)
        x1, i1 = rec.signal()
        assert np.array_equal(x0, x1)
        # the IMU's white noise is drawn per chunk in (axis, sample) order, so only it differs:
        # 1 s means leave 1/10 of its 0.003 g and 0.2 dps, and every activity's own part
        d = (i0 - i1)[:, ::10]
        d = d[:, :d.shape[1] // 100 * 100].reshape(6, -1, 100).mean(axis=2)
        assert np.abs(d[:3]).max() < 0.003 and np.abs(d[3:]).max() < 0.2
        assert s.cls != "sleep" or rec.tilts


def test_only_episodes_are_labelled_and_contexts_reach_the_scoring() -> None:
    from spasmtrack.accuracy.generators import Job, _corpus
    from spasmtrack.synth.corpus.generator import CLINIC_CLASSES

    contexts: set[str] = set()
    hours: dict[str, float] = {}
    for spec in build_corpus(1, classes=list(CLINIC_CLASSES)):
        hours[spec.cls] = hours.get(spec.cls, 0.0) + spec.duration_s / 3600.0
    assert hours["car"] >= 0.5 and 1.5 <= sum(hours.values()) <= 2.5, hours
    for spec in build_corpus(1, scale=0.15, classes=list(CLINIC_CLASSES)):
        rec = generate(spec)
        events = [i for i in rec.items if i.kind in EVENTS]
        assert len(events) == len(rec.labels)
        for it, lab in zip(events, rec.labels):
            assert it.t0 - 1e-9 <= lab.onset_s < lab.offset_s <= it.t1 + 1e-9
        scored = _corpus(Job("corpus", spec.name, 1, 0.15))
        assert [l["onset_s"] for l in scored.labels] == [l.onset_s for l in rec.labels]
        assert scored.contexts[0][0] == 0.0 and scored.contexts[-1][1] == spec.duration_s
        for lab in scored.labels:
            assert lab["context"] == daily.context_at(scored.contexts, lab["onset_s"])
        contexts |= {c for *_, c in scored.contexts}
    assert {"physio", "transfer", "sleep", "desk", "vehicle"} <= contexts, contexts
