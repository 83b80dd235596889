"""Synthetic signal generators (seeded, labelled) for tests, demos and the accuracy benchmark."""
