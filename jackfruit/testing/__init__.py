"""Helpers for tests, benchmarks and demos (sample GRIB); not used by the library at run time."""
