from replication.errors import BuildError  # noqa: F401  (moved to replication/errors.py; kept for old imports)
