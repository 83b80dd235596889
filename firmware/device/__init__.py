"""The device layer: sampler, hardware assembly, pipeline, BLE peripheral, button and the
runtime that ties them together. Receives its buses and radio; runs only on MicroPython."""
