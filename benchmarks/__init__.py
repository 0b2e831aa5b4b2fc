"""Benchmarks, each a module run from the repository root: `python -m benchmarks.<name>`
(`--help` for its options). Each prints a table and writes JSON under `benchmarks/results/`
with the device, versions, env count, solver settings and the command that produced it."""
