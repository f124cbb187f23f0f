"""The one exception the panel build raises for bad input."""


class BuildError(Exception):
    """Bad or unexpected input. The message names the file, the city-year and the column."""
