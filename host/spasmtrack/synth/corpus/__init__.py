"""Seeded, labelled synthetic EMG + IMU recordings for the accuracy benchmark.

``build_corpus(seed)`` lists the recordings (:class:`RecordingSpec`) by class;
``generate(spec)`` returns a :class:`SynthRecording` that streams the signal in chunks
(``recording()`` gives a :class:`spasmtrack.recording.Recording` for replay) and carries
its labels. ``python -m spasmtrack.synth.corpus --out DIR`` writes recordings as replay CSVs
plus ``labels.json``.

Labeling rule (what counts as a ground-truth event; see :mod:`.generator`):

* An event is one episode of involuntary activity generated as such: a tonic spasm, a
  clonus bout, or a spasm with a clonic part (tonic and clonic parts back to back = ONE
  event of kind ``spasm_with_clonus``). Its onset is the first sample of its amplitude
  envelope (the start of a 30-150 ms raised-cosine rise), its offset the last sample of its
  decay (100-400 ms). Spasms last >= 0.8 s, clonus bouts 2-60 s.
* Episodes are separated by at least 3 s of rest, far more than the 0.3 s merge gap, so
  the split-versus-merge choice never decides a label.
* Not events: short voluntary contractions (100-350 ms, shorter than the 0.5 s minimum),
  motion artifacts (low-frequency electrode transients with an IMU jerk, no EMG), mains
  hum switching on for a while, drift and noise. They are listed as distractors for analysis only.
* Lead-off spans (front end railed, or flat zero signal) are labelled ``lost``; no event is
  placed within 3 s of one. Detections inside a lost span count as false positives.
* ``clonus_hz`` of a label: the mean burst rate of its clonic part ((bursts - 1) / time
  from the first to the last burst).
* The clinic and home classes (physio, transfer, sleep, prelude, desk_mains, car,
  displaced) label by the 10 % rule instead: an episode runs from where its own envelope
  first exceeds 10 % of its peak to where it last does (see :mod:`.daily`). Stretch
  reflexes, transfers, rolls in bed, voluntary repositions of the leg, the slow return of a
  displaced limb and mains hum are not events.
* SNR (dB) = 10 log10(EMG power / background power), both in the 20-450 Hz band, the
  background being noise plus hum; weak spasms sit at 3-6 dB.

The IMU moves as a rigid limb would (since config v5; checked against kinematics in
tests/test_corpus_labels.py): a spasm turns the limb about its long axis by an angle that
follows its activation 50-150 ms late through the limb's mechanics (5-38 degrees at full
activation) and comes back as it relaxes; the gyro reads that angle's rate and gravity
turns by it. A clonic beat swings the limb out and back. (Until v5 the gyro was driven by
the envelope itself, so a 6 s plateau spun the limb by ~800 degrees while gravity hardly
moved; the detector's gait rule had been tuned on that.)
"""
from .generator import (CLASSES, Label, RecordingSpec, SynthRecording, build_corpus, generate)

__all__ = ["CLASSES", "Label", "RecordingSpec", "SynthRecording", "build_corpus", "generate"]
