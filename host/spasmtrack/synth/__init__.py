"""Synthetic data generators: simulated patients, labelled corpora, multi-week event-level data."""
