"""`make bench`: timings of the resampling, Tables 5-9, the wild bootstrap and the multiverse, beside the
reference packages. Figures, not tests; run from the repository's root in the benchmark's own
environment (.venv-bench). Not part of the installed `replication` package."""
