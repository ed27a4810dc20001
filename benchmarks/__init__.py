"""Side-by-side benchmarks, printed as ratios: ``python -m benchmarks`` (``make bench``)."""
