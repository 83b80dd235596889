"""``spasmtrack demo``: a simulated patient through the real chain, end to end.

Stages, one module each, run in this order by :func:`run_demo` (:mod:`.pipeline`):

1. ``simulate`` (:mod:`.simulate`) -- :mod:`spasmtrack.synth.patient`: truth files and the
   patient's dose log; the raw signal is streamed to the next stages in chunks.
2. ``device`` (:mod:`.device`) -- the device core over the whole day: the firmware's DSP
   chains and detector (``mpy-cross`` compiled) on the MicroPython unix port in the
   device's heap, their events and summaries appended by the firmware's flash log to a
   NOR-flash image.
3. ``simboard`` (:mod:`.simboard`) -- the whole firmware (``firmware/device/runtime.py``:
   drivers, sampler, DSP, detector, flash log) on the sim board's register-level
   simulators over an excerpt, checked against the device core's events.
4. ``sync`` (:mod:`.sync`) -- the host's bleak sync over the virtual radio (Bumble) against
   the firmware's BLE peripheral serving that flash image, into SQLite.
5. ``doses`` (:mod:`.doses`) -- the dose log through ``spasmtrack.doses``.
6. ``report`` (:mod:`.report`) -- analysis and the clinician report.
7. ``score`` (:mod:`.score`) -- detection against the simulator's truth, coverage.

``build/demo.json`` gets the figures and the time per stage (:mod:`.summary` prints them).
"""
from .boardscale import BoardScale, board_scale
from .flashimage import device_frames
from .pipeline import STAGES, run_demo
from .run import PATIENT_CODE, DemoRun, StageResult

__all__ = ["BoardScale", "board_scale", "device_frames", "STAGES", "run_demo", "PATIENT_CODE", "DemoRun",
           "StageResult"]
