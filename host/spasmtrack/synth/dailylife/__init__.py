"""An independent daily-life EMG + IMU generator, built from physiology alone.

Written without looking at the detector or at the project's other generators, so that
scoring the detector on it measures generalisation (``make accuracy``). A scripted day
(:mod:`.script`: sleep with nocturnal spasms, transfers, wheelchair propulsion, a car
ride, walking with a cane, a physiotherapy stretch that provokes clonus, desk work near
switching equipment, an electrode peeling off, sweat) drives ONE motor-unit pool, so
voluntary activity, gait and spasms share the same texture and differ only in their time
course.

Physiology and sources:

- Motor-unit pool, recruitment and rate coding: Fuglevand AJ, Winter DA, Patla AE (1993)
  Models of recruitment and rate coding organization in motor-unit pools. J Neurophysiol
  70:2470-2488 (exponential thresholds over a 30-fold range, 8 Hz minimum rate, 1 Hz per
  excitation unit, peak rates 35->25 Hz, ISI CV 0.2); size principle: Henneman 1957;
  Enoka RM, Fuglevand AJ (2001) Muscle Nerve 24:4-17.
- MUAPs: Rosenfalck P (1969) intracellular action potential; line-source / core-conductor
  model (Plonsey R 1974, Biophys J 14:73); anisotropic volume conductor, conductivities
  0.063 / 0.33 S/m (Andreassen S, Rosenfalck A 1981, IEEE TBME 28:179); generation at
  the endplate and extinction at the tendons; depth as a spatial low-pass (Lindstrom L,
  Magnusson R 1977, Proc IEEE 65:653; Merletti R et al. 1999, IEEE TBME 46:810).
- Involuntary activity in spinal cord injury and its classes (unit, tonic, clonus,
  myoclonus / spasm, mixed): Thomas CK, Dididze M, Martinez A, Morris RW (2014)
  J Electromyogr Kinesiol 24:747-754; clonus at 4-8 Hz with drifting rate: Beres-Jones
  JA, Johnson TD, Harkema SJ (2003) Exp Brain Res 149:222; Wallace DM et al. (2005)
  J Neurophysiol 94:2400 (clonus in SCI, 5-8 Hz).
- Spasm-driven limb movement 50-150 ms after the EMG (electromechanical delay plus
  twitch rise, Cavanagh PR, Komi PV 1979, Eur J Appl Physiol 42:159).
- Gait: stride 0.6-1.2 Hz, one burst per stride of 0.1-0.4 s in a limb muscle
  (Winter DA 1991, The Biomechanics and Motor Control of Human Gait).
- Whole-body vibration in vehicles and wheelchairs, 10-30 Hz dominant band (Griffin MJ
  1990, Handbook of Human Vibration; Garcia-Mendez Y et al. 2013, J Rehabil Res Dev 50:
  wheelchair vibration).
- Mains interference, lead-off behaviour of the front end (rails), ECG contamination of
  trunk and proximal EMG (Drake JDM, Callaghan JP 2006, J Electromyogr Kinesiol 16:175).
- Real data: the ECG bleed uses a real ECG beat (PyWavelets' packaged ``ecg`` record);
  the EMG texture is checked in the tests against a real HD-EMG recording when one is
  installed (see :mod:`.realemg`).

``python -m spasmtrack.synth.dailylife --out DIR`` writes the days as replay CSVs plus
``labels.json``.
"""
from .day import FS, DailyLifeRecording, full_scale_uv
from .script import CONTEXTS, THOMAS_TYPES, DayScript, build_day, build_days

__all__ = ["FS", "CONTEXTS", "THOMAS_TYPES", "DailyLifeRecording", "DayScript", "build_day", "build_days",
           "full_scale_uv"]
