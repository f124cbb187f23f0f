"""Replication package of Bi, Huang and Qiu, digital technology and urban-rural integration.

Importing the package pins the linear-algebra libraries to one thread (unless the environment already
says otherwise): OpenBLAS sums in a different order with another number of threads, so results would
differ in the last digits between a 2-core laptop, a 64-core server and Dask workers (which run one
thread each); with one thread every run, serial, local processes or a cluster, is byte-identical.
The matrices here are a few thousand rows by a few hundred columns, where more threads gain little.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
