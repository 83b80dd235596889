"""Synthetic data generators (seeded, labelled): simulated patients, labelled corpora, the daily-life
motor-unit generator, multi-week event-level data; for tests, demos and the accuracy benchmark."""
