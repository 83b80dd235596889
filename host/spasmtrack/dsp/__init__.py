"""Host side of the fixed-point DSP core: filter design (scipy), quantization into the
firmware's integer coefficients, the numpy golden model of the integer algorithm, and the
generator of each board's ``coeffs.py``."""
