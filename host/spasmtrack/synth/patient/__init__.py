"""Simulated patient: baclofen doses, spasm/clonus hazard, raw EMG and IMU, ground truth.

Typical use::

    from spasmtrack.synth.patient import Scenario, build_timeline, PatientSignal, write_truth
    tl = build_timeline(Scenario(days=1, regimen="tid", seed=1))
    write_truth(tl, out_dir)
    for chunk in PatientSignal(tl).chunks(60.0):   # streams; never a whole day in RAM
        ...  # chunk.emg_uV (n_ch, n) µV at 1 kHz, chunk.imu (6, n/10) g and dps at 100 Hz

``python -m spasmtrack.synth.patient --days 1 --out DIR`` writes the truth files and, with
``--csv``, the signal as a replay recording (``t_s,emg_uV,emg2_uV,ax_g,...``).
"""
from .pk import EmaxResponse, IntrathecalPK, OralPK
from .scenario import Event, Scenario, Timeline, build_timeline
from .stream import Chunk, PatientSignal
from .truth import truth_dict, write_truth

__all__ = ["EmaxResponse", "IntrathecalPK", "OralPK", "Event", "Scenario", "Timeline", "build_timeline",
           "Chunk", "PatientSignal", "truth_dict", "write_truth"]
