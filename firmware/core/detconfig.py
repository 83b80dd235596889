"""The detector's one versioned configuration: every threshold and rule, with its unit.

Runs unchanged on MicroPython and CPython. ``CONFIG_VERSION`` is carried in every EVENT and
SUMMARY record; change it whenever a default below changes, so a report can say exactly
how it measured. ``make(**overrides)`` builds a non-default configuration: its version has
bit 15 set and a 15-bit hash of all values, so it can never be mistaken for a release.

Each parameter: (key id for CONFIG records, name, default, unit/meaning). Values are ints in
the stated unit (the detector is integer-only). Envelope units are 0.01 uV (``cuv``) as
produced by ``dspchain.EmgChain``; "tick" = one envelope step = 10 ms.

Physiological basis (see shared/design/DOMAIN.md):
- events last >= 0.5 s; short voluntary bursts shorter than that are not spasms;
- onset by double threshold with persistence (Hodges & Bui: 20-100 ms persistence),
  relative to an adaptive noise floor (a slow low-quantile tracker, frozen during activity);
- an explicit merge gap: activity separated by less than ``merge_gap_ms`` is one event
  (raters disagree mostly on split-vs-merge, so the rule is stated and reported);
- one episode (docs/detector.md): bursts merge across pauses shorter than the merge gap; a
  train of short bursts with no sustained one (tapping, steps, pushes, ECG) is not an
  episode, leading blips before a pause are not its onset, and an event shorter than
  clonus_min_ms is never clonic;
- context from the IMU (rhythmic movement, vibration, transfers) is recorded per event;
- clonus: rhythmic bursts at 3-10 Hz (typically 4.7-7 Hz, drifting up to 2 Hz at the ends
  of a bout) found by the autocorrelation of the 10 ms envelope in sliding 1.28 s windows.
"""
import struct
from binascii import crc32

# 5: turns about the vertical (turn_deg); 4: peak-relative episode onset, responses to
# movement, learned screen; 3: burst structure, onset after leading blips, short clonus,
# IMU context
CONFIG_VERSION = 5

# (key, name, default) and, in the comment on the same line, the unit and meaning (the host
# reads it: spasmtrack.replay.detconfig_docs; a comment costs the device's heap nothing)
PARAMS = (
    (1, "min_duration_ms", 500),  # ms; shorter activity is not an event
    (2, "merge_gap_ms", 300),  # ms; activity separated by less is one event (offset persistence)
    (3, "on_persist_ms", 50),  # ms above the onset threshold before an event starts
    (4, "on_ratio_64", 32),  # onset threshold = floor * (1 + on_ratio_64/64)
    (5, "off_ratio_64", 16),  # offset threshold = floor * (1 + off_ratio_64/64)
    (6, "min_step_cuv", 60),  # 0.01 uV; thresholds are at least this far above the floor
    (7, "floor_min_cuv", 30),  # 0.01 uV; the noise floor never goes below this
    (8, "floor_down_shift", 7),  # floor falls by floor>>shift per tick while env < floor
    (9, "floor_up_shift", 11),  # floor rises by floor>>shift per resting tick while floor < env < onset threshold
    (33, "floor_creep_shift", 16),  # during an event the floor still creeps up by floor>>shift per tick
    (10, "warmup_ms", 2000),  # ms after start and after lost signal: floor learns fast, nothing detected
    (11, "warmup_shift", 4),  # floor step shift during warm-up (both directions)
    (12, "onset_adj_ms", 10),  # ms subtracted from the threshold crossing (100 ms ARV rise)
    (13, "offset_adj_ms", 85),  # ms subtracted from the first tick below the offset threshold (ARV fall)
    (14, "max_event_ms", 120000),  # ms; longer activity is closed (flag truncated) and a new event starts
    (15, "flat_cuv", 50),  # 0.01 uV; raw peak-to-peak in 10 ms at or below this is flat (lead-off)
    (42, "flat_q_ms", 500),  # ms the raw signal must stay flat before it is lost when one ADC count is coarser than flat_cuv (quantisation)
    (16, "rail_pm", 985),  # per-mille of ADC full scale: a 10 ms step wholly beyond it is railed
    (17, "bad_hold_ms", 500),  # ms after railed/flat signal still counted lost (filter recovery)
    (18, "clonus_lag_min", 10),  # ticks; shortest clonus period (10 Hz)
    (19, "clonus_lag_max", 33),  # ticks; longest clonus period (3 Hz)
    (20, "clonus_win", 128),  # ticks in one autocorrelation window (1.28 s)
    (21, "clonus_hop", 25),  # ticks between windows during an event
    (22, "clonus_r_min", 410),  # 1/1024; autocorrelation peak needed for a rhythmic window
    (23, "clonus_prom", 360),  # 1/1024; peak minus the valley before it needed for a rhythmic window
    (24, "clonus_frac_pm", 900),  # per-mille of rhythmic windows above which a clonic event has no tonic part
    (25, "clonus_min_windows", 3),  # consecutive rhythmic windows that make a clonic part
    (34, "tonic_min_windows", 3),  # consecutive non-rhythmic windows that make a tonic part (-> spasm_with_clonus)
    (26, "motion_ratio_64", 512),  # motion-like tick: (lf - lf baseline)*64 > (env - floor)*ratio
    (38, "stale_ms", 3000),  # ms with the merge-gap mean below the onset threshold that end an event (background rose)
    (39, "onset_dip_ms", 120),  # ms; onset backtracking bridges dips this long between clonic bursts
    (40, "smooth_ms", 5000),  # ms into an event at which its 10 ms envelope roughness is checked
    (41, "rough_min_pm", 160),  # per-mille; a smoother event is a background step (hum), not muscle
    (37, "motion_max_ms", 2000),  # ms; only events this short can be rejected as motion (artifacts are transients)
    (35, "lf_down_shift", 3),  # lf baseline moves (lf - base)>>shift per resting tick when lf is below it
    (36, "lf_up_shift", 6),  # lf baseline moves (lf - base)>>shift per resting tick when lf is above it
    (27, "motion_frac_pm", 500),  # per-mille of motion-like ticks (with an IMU jerk) -> rejected
    (28, "jerk_cgs", 300),  # 0.01 g/s; IMU jerk above this is a movement
    (29, "jerk_near_ms", 500),  # ms before onset within which a jerk still counts as coinciding
    (30, "near_thr_64", 96),  # peak < on threshold * near_thr_64/64 -> flag near threshold
    (48, "burst_min_ms", 700),  # ms; a spasm needs one burst this long (else a burst train)
    (49, "clonus_min_ms", 1500),  # ms; a shorter event is never clonic
    (50, "lead_pause_ms", 150),  # ms; pause after leading blips that moves the onset on
    (51, "lead_burst_ms", 300),  # ms; leading runs above onset shorter than this are blips
    (52, "lead_age_ms", 1000),  # ms; the onset can move only this early in an event
    (56, "onset_peak_1024", 102),  # 1/1024 of the episode's peak: its own onset is where the run holding the peak rose above this
    (57, "reonset_min_ms", 200),  # ms; a peak-relative onset closer than this to the threshold onset is not moved
    (58, "reonset_max_ms", 6000),  # ms; the onset moves on by at most this (weaker activity before it is not the episode)
    (53, "mains_void_ms", 2000),  # ms; an event begun this shortly before the auto notch switched is dropped
    (54, "gait_min_ms", 4000),  # ms into an event at which its rhythm is checked against the IMU's
    (69, "gait_still_ms", 12000),  # ms into an event begun with the limb still (mean acceleration below moved_mg) at which its rhythm is checked
    (55, "gait_r_min", 400),  # 1/1024; envelope autocorrelation at the IMU period that marks gait
    (43, "move_mg", 40),  # mg; mean acceleration above which the IMU context is movement
    (44, "vib_ratio_64", 256),  # vibration: mean jerk (0.01 g/s) * 64 > mean acc (mg) * this
    (45, "cad_r_min", 400),  # 1/1024; acc autocorrelation peak at 0.3-1.8 s: rhythmic movement
    (61, "moved_max_ms", 2000),  # ms; a shorter spasm-kind event begun while the limb already moved is a response to the movement
    (62, "moved_lead_ms", 30),  # ms the limb must have been rotating (gyro > move_ddps) before the EMG rose: a response to movement
    (63, "moved_mg", 35),  # mg of mean acceleration over the second before the onset that make the limb 'moving' (response to movement)
    (65, "posture_64", 12),  # 64 x |gravity turn|^2 / g^2 over a spasm-kind event above which the posture changed (12 ~ 25 deg); 0 off
    (67, "turn_deg", 45),  # deg turned about the vertical over a spasm-kind event (to posture_ms after) that drops it; 0 or posture_64 0: off
    (68, "turn_max_ms", 10000),  # ms; longer events are not checked for a turn (the gyro's offset would add up)
    (66, "posture_ms", 1500),  # ms after an event's end at which its posture is compared (the event is emitted then)
    (59, "move_ddps", 150),  # 0.1 dps; angular rate above which the limb is moving (the screen's move_lead_ms)
    (46, "transfer_ddps", 2500),  # 0.1 dps; angular rate of a transfer or posture change
    (47, "ctx_hold_ms", 2000),  # ms a movement context is held after its cause
    (60, "screen_on", 1),  # 1: candidate episodes pass the learned screen (screen.py, screen_table.py); 0: rules only
    (31, "window_s", 300),  # s per summary window
    (32, "summary_grace_ms", 3000),  # ms after a window ends before its summary is closed
)

_NAMES = tuple(p[1] for p in PARAMS)


class Config:
    """Attribute access to the parameter values (``cfg.min_duration_ms``) plus ``version``."""

    def __init__(self, values, version):
        self.version = version
        self.values = tuple(values)
        for i in range(len(PARAMS)):
            setattr(self, PARAMS[i][1], self.values[i])

    def items(self):
        """(key, name, value) for CONFIG records."""
        return [(PARAMS[i][0], PARAMS[i][1], self.values[i]) for i in range(len(PARAMS))]


def _hash15(values):
    b = bytearray()
    for v in values:
        b.extend(struct.pack("<i", v))
    return crc32(bytes(b)) & 0x7FFF


def make(**overrides):
    """The default configuration, or a variant with some values replaced (by name)."""
    if not overrides:        # (no temporary lists: this runs at import on the device)
        return Config([p[2] for p in PARAMS], CONFIG_VERSION)
    vals = [p[2] for p in PARAMS]
    for name in overrides:
        if name not in _NAMES:
            raise ValueError("unknown detector parameter %r" % (name,))
        v = overrides[name]
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError("detector parameter %s must be an int, not %r" % (name, v))
        vals[_NAMES.index(name)] = v
    for i in range(len(PARAMS)):
        if vals[i] != PARAMS[i][2]:
            return Config(vals, 0x8000 | _hash15(vals))
    return Config(vals, CONFIG_VERSION)


DEFAULT = make()
