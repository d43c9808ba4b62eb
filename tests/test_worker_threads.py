"""Worker processes cap Numba's thread pool before any thread is launched.

A worker imports numba (and reads NUMBA_NUM_THREADS) while unpickling its initializer, before the
initializer sets the thread variables. Found at default settings: ``corollary_robust_error --workers 2``
failed with "Cannot set NUMBA_NUM_THREADS to a different value once the threads have been launched"
when a kernel loaded from Numba's disk cache launched the pool with the import-time count.
"""

import os
import subprocess
import sys


def test_worker_init_applies_the_thread_cap_to_an_imported_numba():
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    code = ("import numba, boundcheck.montecarlo as mc; mc._worker_init(1, None); "
            "print(numba.config.NUMBA_NUM_THREADS)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1"
