"""What the benchmarks share: every measurement runs in a fresh worker
process (so its peak RSS is its own) that prints one JSON line."""
import json
import os
import resource
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(script: str, args) -> dict:
    """Run ``python script *args`` and return the JSON of its last line."""
    out = subprocess.run([sys.executable, script, *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
