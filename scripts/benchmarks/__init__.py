"""The benchmarks of ../shared/benchmarks.md, B1 to B6, run by `scripts/bench`."""
