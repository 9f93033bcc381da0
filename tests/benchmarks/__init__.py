"""Benchmarks: not tests. `make bench` runs every module here and writes docs/benchmarks.md.

Each module exposes ``run(quick: bool = False) -> str`` returning a markdown section measured on this machine.
Speed and memory goals live here, never in timed tests.
"""
