"""Simulated OpenStack clouds for the demo, the tests and the benchmarks (see README.md)."""
