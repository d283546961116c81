"""Numerics that must not run in half precision under autocast."""
import torch
from torch import Tensor

HALF_TYPES = (torch.float16, torch.bfloat16)


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32 if it is float16 / bfloat16 (autocast outputs), else
    as it is (float32, or float64 in exactness tests)."""
    return x.float() if x.dtype in HALF_TYPES else x
