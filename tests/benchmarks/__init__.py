"""Benchmarks of Codanna Desktop: relevance (CoSQA, identifier lookup, ripgrep), speed,
freshness. Each runs with one command (see BENCHMARKS.md) and writes docs/benchmarks/."""
