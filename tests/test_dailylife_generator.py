"""The independent daily-life generator: deterministic, and its labels say what is in the signal."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from spasmtrack.recording import open_recording
from spasmtrack.synth.dailylife import DailyLifeRecording, build_day, build_days, full_scale_uv
from spasmtrack.synth.dailylife.imu import FS_IMU
from spasmtrack.synth.dailylife.muap import FibreGeometry, fibre_sources, unit_muap
from spasmtrack.synth.dailylife.mupool import ISI_CV, MotorUnitPool
from spasmtrack.synth.dailylife.script import Artifact, DayScript, Episode, Patient, Segment

FS = 1000


def patient(**kw) -> Patient:
    base = dict(condition="SCI", muscle="quadriceps", emg_gain_uv=4000.0, tone=0.01, clonus_hz=6.0, mains_hz=60,
                ecg_uv=0.0, heart_bpm=70.0, noise_uv=2.0, ambulant=True)
    base.update(kw)
    return Patient(**base)


@pytest.fixture(scope="module")
def scripted() -> DailyLifeRecording:
    """90 s: rest with a tonic spasm and a clonus bout, 40 s of walking, rest with hum."""
    segs = [Segment("rest", 0.0, 30.0), Segment("walking", 30.0, 70.0,
                                                {"stride_hz": 0.9, "burst_s": 0.25, "burst_peak": 0.2, "swing_deg": 25.0}),
            Segment("rest", 70.0, 90.0)]
    eps = [Episode("tonic", 5.0, 6.0, 0.3, "plateau", imu_dps=80.0, imu_delay_s=0.1),
           Episode("clonus", 17.0, 8.0, 0.3, "beats", clonus_hz=(6.0, 6.0), amp_trend=1.0, imu_dps=40.0)]
    arts = [Artifact("hum", 75.0, 88.0, {"hz": 60, "uv": 20.0, "harmonic3": 0.1})]
    return DailyLifeRecording(DayScript("t", 5, patient(), 90.0, segs, eps, arts))


def bandpassed(x: np.ndarray) -> np.ndarray:
    return sps.sosfiltfilt(sps.butter(4, [20, 450], btype="band", fs=FS, output="sos"), x)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


def test_same_seed_same_day_and_another_seed_another() -> None:
    a = DailyLifeRecording(build_day("d", "physio", 11, 2, scale=0.1))
    b = DailyLifeRecording(build_day("d", "physio", 11, 2, scale=0.1))
    c = DailyLifeRecording(build_day("d", "physio", 12, 2, scale=0.1))
    assert np.array_equal(a.emg_uv, b.emg_uv) and np.array_equal(a.imu, b.imu)
    assert a.labels == b.labels and a.contexts == b.contexts
    assert a.emg_uv.size != c.emg_uv.size or not np.array_equal(a.emg_uv, c.emg_uv)


def test_the_day_set_covers_every_context_and_condition() -> None:
    days = build_days(1)
    contexts = {s.context for d in days for s in d.segments}
    assert contexts >= {"sleep", "rest", "transfer", "wheelchair", "vehicle", "walking", "physio", "desk"}
    assert {d.patient.condition for d in days} == {"SCI", "MS", "stroke", "CP"}
    assert {a.kind for d in days for a in d.artifacts} >= {"hum", "sweat", "peel_off", "ecg", "cable_sway"}
    types = {e.thomas_type for d in days for e in d.episodes}
    assert types == {"unit", "tonic", "clonus", "myoclonus", "mixed"}
    hours = sum(d.duration_s for d in days) / 3600
    assert 2.0 < hours < 4.0


def test_labelled_spasms_stand_out_of_the_background(scripted: DailyLifeRecording) -> None:
    x = bandpassed(scripted.emg_uv)
    for lab in scripted.labels:
        i, j = int(lab["onset_s"] * FS), int(lab["offset_s"] * FS)
        before = x[i - 2500:i - 500]
        assert rms(x[i:j]) > 4 * rms(before), lab
    tonic, clonus = scripted.labels
    assert (tonic["kind"], clonus["kind"]) == ("spasm", "clonus")
    # label rule: the tonic episode's onset is where its drive passes 10 % of its peak
    assert 5.0 <= tonic["onset_s"] < 5.6 and 10.0 < tonic["offset_s"] <= 11.0
    assert clonus["onset_s"] == pytest.approx(17.0, abs=0.01)


def test_clonus_label_rate_is_the_rate_in_the_emg(scripted: DailyLifeRecording) -> None:
    lab = scripted.labels[1]
    i, j = int(lab["onset_s"] * FS), int(lab["offset_s"] * FS)
    env = np.abs(bandpassed(scripted.emg_uv)[i:j])
    env = sps.sosfiltfilt(sps.butter(2, 20, fs=FS, output="sos"), env)
    f, p = sps.welch(env - env.mean(), fs=FS, nperseg=4096)
    band = (f > 3) & (f < 10)
    assert f[band][np.argmax(p[band])] == pytest.approx(lab["clonus_hz"], abs=0.3)
    assert lab["clonus_hz"] == pytest.approx(6.0, abs=0.3)


def test_spasm_moves_the_limb_50_to_150_ms_after_the_emg(scripted: DailyLifeRecording) -> None:
    lab = scripted.labels[0]
    gy = scripted.imu[4]
    a = int(lab["onset_s"] * FS_IMU)
    base = np.abs(gy[a - 200:a - 20]).max()
    moved = np.flatnonzero(np.abs(gy[a - 20:a + 200]) > base + 5.0)
    assert moved.size, "no limb movement during the spasm"
    lag_s = (moved[0] - 20) / FS_IMU
    assert 0.0 <= lag_s <= 0.4
    assert np.abs(gy[a:a + 600]).max() > 40.0


def test_gait_shows_the_cadence_in_imu_and_emg(scripted: DailyLifeRecording) -> None:
    a, b = 32 * FS_IMU, 68 * FS_IMU
    gy = scripted.imu[4, a:b]
    f, p = sps.welch(gy - gy.mean(), fs=FS_IMU, nperseg=2048)
    assert f[np.argmax(p)] == pytest.approx(0.9, abs=0.06)
    env = np.abs(bandpassed(scripted.emg_uv)[32 * FS:68 * FS])
    env = env[: env.size // 10 * 10].reshape(-1, 10).mean(axis=1)     # 100 Hz envelope
    f, p = sps.welch(env - env.mean(), fs=100, nperseg=2048)
    sel = (f > 0.3) & (f < 3)
    assert f[sel][np.argmax(p[sel])] == pytest.approx(0.9, abs=0.06)
    # standing: gravity mostly along the segment axis; at rest sitting: along z
    assert np.mean(scripted.imu[0, a:b]) > 0.8 and np.mean(scripted.imu[2, 20 * FS_IMU:25 * FS_IMU]) > 0.95


def test_hum_is_at_the_stated_frequency_only_while_on(scripted: DailyLifeRecording) -> None:
    x = scripted.emg_uv

    def line(a: float, b: float, hz: float) -> float:
        seg = x[int(a * FS):int(b * FS)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) / seg.size
        f = np.fft.rfftfreq(seg.size, 1 / FS)
        return float(spec[np.argmin(np.abs(f - hz))])

    assert line(76, 87, 60) > 10 * line(76, 87, 50)
    assert line(76, 87, 60) > 10 * line(71, 74.5, 60)


def test_vehicle_vibration_lead_off_and_sweat() -> None:
    segs = [Segment("rest", 0.0, 20.0),
            Segment("vehicle", 20.0, 60.0, {"vib_hz": (12.0, 25.0), "vib_g": 0.2, "sway_uv": 80.0})]
    arts = [Artifact("peel_off", 40.0, 55.0, {"lead_off_s": 48.0, "rail": True, "wander_uv": 1000.0}),
            Artifact("cable_sway", 20.0, 60.0, {"uv": 80.0})]
    r = DailyLifeRecording(DayScript("v", 3, patient(), 60.0, segs, [], arts))
    acc = r.imu[2]

    def band(a: float, b: float) -> float:
        seg = acc[int(a * FS_IMU):int(b * FS_IMU)]
        f, p = sps.welch(seg - seg.mean(), fs=FS_IMU, nperseg=512)
        return float(p[(f >= 10) & (f <= 30)].sum())

    assert band(22, 58) > 100 * band(2, 18)
    assert r.lost == [(48.0, 55.0)]
    assert np.all(r.emg_uv[48 * FS:55 * FS] == full_scale_uv())
    assert rms(r.emg_uv[41 * FS:47 * FS]) > 3 * rms(r.emg_uv[22 * FS:28 * FS])


def test_fuglevand_pool_recruits_in_order_with_variable_intervals() -> None:
    pool = MotorUnitPool.build(np.random.default_rng(3), FS, 4000.0)
    rng = np.random.default_rng(4)
    e = np.full(20 * FS, 0.3)
    trains = pool.spikes(e, rng)
    active = [k for k, t in enumerate(trains) if t.size]
    assert active == list(range(len(active))) and 0 < len(active) < len(trains)
    isi = np.diff(np.sort(trains[0])) / FS
    assert np.mean(1 / isi) == pytest.approx(pool.rates(e[:1], 0)[0], rel=0.15)
    assert np.std(isi) / np.mean(isi) == pytest.approx(ISI_CV, abs=0.07)
    # more excitation, more EMG
    low = pool.emg(pool.spikes(np.full(5 * FS, 0.1), rng), 5 * FS)
    high = pool.emg(pool.spikes(np.full(5 * FS, 0.5), rng), 5 * FS)
    assert rms(high) > 3 * rms(low)


def test_volume_conductor_conserves_current_and_depth_filters() -> None:
    _, im = fibre_sources(4.0, 60.0, 55.0)
    assert np.abs(im.sum(axis=1)).max() < 1e-9 * np.abs(im).max()
    rng = np.random.default_rng(0)

    def median_hz(m: np.ndarray) -> float:
        p = np.abs(np.fft.rfft(m, 512)) ** 2
        c = np.cumsum(p)
        return float(np.fft.rfftfreq(512, 1 / FS)[np.searchsorted(c, c[-1] / 2)])

    shallow, deep = unit_muap(1.0, 4.0, rng, FS), unit_muap(12.0, 4.0, rng, FS)
    assert np.ptp(shallow) > 10 * np.ptp(deep)
    assert median_hz(shallow) > median_hz(deep) + 20
    assert FibreGeometry(1.0, 0.0, 60.0, 60.0, 4.0).depth_mm == 1.0


def test_csv_reads_back_as_a_replay_recording(tmp_path) -> None:
    r = DailyLifeRecording(DayScript("c", 1, patient(), 12.0, [Segment("rest", 0.0, 12.0)], [], []))
    p = tmp_path / "c.csv"
    r.write_csv(p)
    rec = open_recording(p)
    assert rec.info.fs_hz == 1000 and rec.info.has_imu
    chunk = next(iter(rec.chunks()))
    assert np.allclose(chunk.emg_uv[0], r.emg_uv[: chunk.emg_uv.shape[1]], atol=0.006)
    assert np.allclose(chunk.imu[2], r.imu_at_emg_rate(0, chunk.imu.shape[1])[2], atol=6e-5)


def test_model_texture_matches_a_real_vastus_lateralis_recording() -> None:
    """Checked against something we did not write: openhdemg's packaged HD-EMG recording
    (vastus lateralis, ~26 % MVC plateau). The model's bipolar EMG at 25 % excitation has
    a median frequency inside the 10th-90th percentile range of the real bipolar pairs."""
    from spasmtrack.synth.dailylife.realemg import bipolar_plateau, median_frequency

    real, force = bipolar_plateau(FS)
    assert 20.0 < force < 35.0 and real.shape[0] >= 10 and real.shape[1] > 15 * FS
    mdf_real = np.array([median_frequency(p, FS) for p in real])
    lo, hi = np.percentile(mdf_real, [10, 90])
    assert 45.0 < lo < hi < 110.0                       # a real surface EMG, not noise or hum
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        pool = MotorUnitPool.build(rng, FS, 2000.0)
        model = pool.emg(pool.spikes(np.full(12 * FS, 0.25), rng), 12 * FS)[FS:12 * FS]
        assert lo <= median_frequency(model, FS) <= hi, seed
