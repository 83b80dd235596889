"""The three independently built generators the accuracy benchmark scores, behind one
interface: each recording is a :class:`Job` (picklable, built in a worker) that becomes a
:class:`Scored` recording: a :class:`spasmtrack.recording.Recording` for the firmware
replay, the whole signal for the peers, labels, the context of every moment, lost spans
and spans to ignore.

- ``corpus`` (:mod:`spasmtrack.synth.corpus`): the seeded corpus the detector is tuned on;
  contexts are the activities it schedules (walking, wheelchair, vehicle, tapping; rest
  between them), each label in the activity at its onset.
- ``patient`` (:mod:`spasmtrack.synth.patient`): the demo's simulated patient, windows of a
  simulated day (morning, afternoon, night); contexts ``sleep``, ``transfer``, ``rest``
  (awake, sitting) from its truth intervals; events that touch lead-off or not-worn time
  (``observable = false``) and events cut by the window are not scored, and detections
  overlapping them are ignored.
- ``dailylife`` (:mod:`spasmtrack.synth.dailylife`): scripted days from a motor-unit
  model, contexts as scripted.

Labels are dicts with ``onset_s``, ``offset_s``, ``kind``, ``clonus_hz`` and ``context``
(seconds from the start of the recording).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..recording import Chunk, Recording, RecordingInfo
from .scoring import rest_filled

GENERATORS = ("corpus", "patient", "dailylife")
TUNED_ON = "corpus"
# (seed offset, window start in hours after the 07:00-local scenario start, hours)
PATIENT_WINDOWS = ((0, 0.0, 1.0), (1, 7.0, 1.0), (2, 17.0, 1.5), (3, 19.5, 1.0))


@dataclass(frozen=True)
class Job:
    generator: str
    key: str                 # corpus: recording name; patient: window index; dailylife: day index
    seed: int
    scale: float


@dataclass
class Scored:
    name: str
    generator: str
    duration_s: float
    labels: list[dict[str, Any]]
    contexts: list[tuple[float, float, str]]
    lost: list[tuple[float, float]]
    ignore: list[tuple[float, float]]
    recording: Callable[[], Recording]
    signal: Callable[[], np.ndarray]          # (n_channels, n) EMG in uV for the peers
    extra: dict[str, Any] = field(default_factory=dict)


def context_at(contexts: list[tuple[float, float, str]], t_s: float) -> str:
    for a, b, c in contexts:
        if a <= t_s < b:
            return c
    return contexts[-1][2] if contexts else "all"


def jobs(generators: list[str], seed: int, scale: float, corpus_classes: list[str] | None = None,
         limit: int | None = None) -> list[Job]:
    """The recordings of each generator (at most ``limit`` of each)."""
    out: list[Job] = []
    if "corpus" in generators:
        from ..synth.corpus import build_corpus

        out += [Job("corpus", s.name, seed, scale) for s in build_corpus(seed, scale, corpus_classes)][:limit]
    if "patient" in generators:
        out += [Job("patient", str(k), seed, scale) for k in range(len(PATIENT_WINDOWS))][:limit]
    if "dailylife" in generators:
        from ..synth.dailylife import build_days

        out += [Job("dailylife", str(k), seed, scale) for k in range(len(build_days(seed, scale)))][:limit]
    return out


def build(job: Job) -> Scored:
    return {"corpus": _corpus, "patient": _patient, "dailylife": _dailylife}[job.generator](job)


# ---------------------------------------------------------------------------------- corpus
def _corpus(job: Job) -> Scored:
    from ..synth.corpus import build_corpus, generate

    spec = next(s for s in build_corpus(job.seed, job.scale) if s.name == job.key)
    rec = generate(spec)
    # contexts: the activity spans the corpus schedules (walking, wheelchair, vehicle, tapping;
    # rest between them); each label carries the activity at its onset
    labels = [dict(l.__dict__) for l in rec.labels]
    return Scored(spec.name, "corpus", spec.duration_s, labels, rest_filled(rec.contexts, spec.duration_s),
                  [(float(a), float(b)) for a, b in rec.lost], [], rec.recording, lambda: rec.signal()[0][None, :],
                  extra={"class": spec.cls})


# --------------------------------------------------------------------------------- patient
def _patient(job: Job) -> Scored:
    from ..synth.patient import PatientSignal, Scenario, build_timeline

    k = int(job.key)
    seed_off, start_h, hours = PATIENT_WINDOWS[k]
    tl = build_timeline(Scenario(days=1.0, seed=job.seed * 100 + seed_off))
    t0 = round(start_h * 3600.0 / 10.0) * 10.0
    dur = round(hours * 3600.0 * job.scale / 10.0) * 10.0
    t1 = t0 + dur
    sig = PatientSignal(tl)

    def shift(a: float, b: float) -> tuple[float, float]:
        return round(max(a, t0) - t0, 3), round(min(b, t1) - t0, 3)

    spans: list[tuple[float, float, str]] = []
    for iv in tl.intervals:
        if iv.end_s > t0 and iv.start_s < t1:
            spans.append((*shift(iv.start_s, iv.end_s), iv.kind))
    for o in tl.others:
        if o.kind == "transfer" and o.end_s > t0 and o.start_s < t1:
            spans.append((*shift(o.start_s, o.end_s), "transfer"))
    contexts = _paint(dur, spans)
    lost = [(a, b) for a, b, c in spans if c in ("leadoff", "not_worn")]
    labels, ignore = [], []
    for e in tl.events:
        if e.offset_s <= t0 or e.onset_s >= t1:
            continue
        a, b = shift(e.onset_s, e.offset_s)
        if not e.observable or e.onset_s < t0 or e.offset_s > t1:
            ignore.append((a, b))
            continue
        labels.append({"onset_s": a, "offset_s": b, "kind": e.kind,
                       "clonus_hz": e.clonus_hz or None, "context": context_at(contexts, a)})
    nch = tl.scenario.n_channels

    def chunks() -> Iterator[Chunk]:
        for c in sig.chunks(60.0, t0, t1):
            start = int(round((c.t0_s - t0) * c.fs_emg))
            dec = c.fs_emg // c.fs_imu
            yield Chunk(start, np.asarray(c.emg_uV, dtype=np.float64),
                        np.repeat(np.asarray(c.imu, dtype=np.float64), dec, axis=1))

    def recording() -> Recording:
        names = ["emg_uV"] + [f"emg{i + 1}_uV" for i in range(1, nch)]
        info = RecordingInfo(Path(f"<patient:{job.seed}:{k}>"), 1000.0, names, True, int(dur * 1000))
        return Recording(info, chunks())

    def signal() -> np.ndarray:
        return np.concatenate([c.emg_uv for c in chunks()], axis=1)

    return Scored(f"patient_w{k}_{'night' if start_h >= 16 else 'day'}", "patient", dur, labels, contexts, lost,
                  ignore, recording, signal)


def _paint(dur: float, spans: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Per-second context from interval spans (priority: transfer > sleep; else rest)."""
    n = int(np.ceil(dur))
    prio = {"rest": 0, "sleep": 1, "transfer": 2}
    ctx = np.zeros(n, dtype=np.int8)
    names = {v: k for k, v in prio.items()}
    for a, b, c in spans:
        if c in prio:
            i, j = int(a), int(np.ceil(b))
            ctx[i:j] = np.maximum(ctx[i:j], prio[c])
    out: list[tuple[float, float, str]] = []
    i = 0
    while i < n:
        j = i
        while j < n and ctx[j] == ctx[i]:
            j += 1
        out.append((float(i), float(min(j, dur)), names[int(ctx[i])]))
        i = j
    return out


# ------------------------------------------------------------------------------- dailylife
def _dailylife(job: Job) -> Scored:
    from ..synth.dailylife import DailyLifeRecording, build_days

    script = build_days(job.seed, job.scale)[int(job.key)]
    rec = DailyLifeRecording(script)
    return Scored(script.name, "dailylife", rec.duration_s, rec.labels, rec.contexts, list(rec.lost), [],
                  rec.recording, lambda: rec.emg_uv[None, :],
                  extra={"patient": f"{script.patient.condition}/{script.patient.muscle}"})
