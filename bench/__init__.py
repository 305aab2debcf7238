"""Benchmarks (not tests): `python -m bench` (or `make bench`) runs every comparison side by
side on the same inputs; one module per comparison, shared mechanics in support.py, inputs
in inputs.py."""
