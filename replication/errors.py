"""The one exception of the package: bad or unexpected input, said in one line.

Every layer raises it (the panel build, the schemas, the steps, the command line); the command line
prints its message after ``error:`` and exits with 2.  It sits at the base of the package so that no
module has to import a layer above its own to raise it.
"""


class BuildError(Exception):
    """Bad or unexpected input. The message names the file, the city-year and the column."""
