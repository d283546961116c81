"""Random draws of parameters that only Multi-Token Enhancing (MTE, arXiv
2411.15787) adds, kept out of the base method's random stream, so that a
paired comparison (same seed, with and without MTE) starts every shared
parameter identical."""
import zlib
from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def mte_only_rng(tag: str) -> Iterator[None]:
    """Draw from a torch stream of its own inside the block.

    The stream is seeded from the run's seed (``torch.initial_seed()``,
    which mmengine's ``randomness.seed`` sets) and ``tag``; on exit the
    global CPU generator is back where it was, as if nothing had been drawn.
    Without it, building or initialising MTE's extra parameters (auxiliary
    tokens, pooling queries) between the base method's modules shifts every
    later initialisation, and "DINO vs MTE at seed s" compares different
    starting weights.

    Args:
        tag (str): Names the parameters, so that two kinds get different
            draws (the same tag gives the same draws for the same seed).
    """
    seed = (torch.initial_seed() + zlib.crc32(tag.encode())) % (2**63)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
