"""Benchmarks of the product, run by hand (``python -m benchmarks.<name>``); results in docs/benchmarks.md.

They are not tests: they take minutes, depend on the machine, and print numbers. Each one still
checks, in the same run, that what it measured was correct (a fast wrong answer is no result).
"""
