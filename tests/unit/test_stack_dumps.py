"""A technician can get the Python stacks of a hung box: ``kill -USR1 <pid>`` (docs/field.md)."""

import subprocess
import sys

SCRIPT = """
import os, signal, threading, time
from callbox.cli.core import enable_stack_dumps

def worker_that_hangs():
    time.sleep(30)

enable_stack_dumps()
threading.Thread(target=worker_that_hangs, name="stuck", daemon=True).start()
time.sleep(0.2)
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.2)
print("still running")
"""


def test_sigusr1_prints_every_thread_and_the_process_goes_on():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "still running" in done.stdout
    assert "worker_that_hangs" in done.stderr  # the other thread's stack, not only the current one
    assert "Current thread" in done.stderr
