"""Mixed precision where mmengine's ``AmpOptimWrapper`` does not go: it
asserts a GPU (or NPU / MLU / MUSA), and its gradient scaler is for float16.
bfloat16 has float32's range, so it needs no loss scaling: autocast alone."""
from contextlib import contextmanager, nullcontext

import torch
from mmengine.optim import OptimWrapper

from ...registry import OPTIM_WRAPPERS

DTYPES = ('bfloat16', 'float16')


def _cpu_flash_bf16_backward_broken() -> bool:
    # torch 2.1's CPU flash attention corrupts the heap in its bfloat16
    # backward (measured on 2.1.2: "double free or corruption" from
    # scaled_dot_product_attention at ViT-S sizes; 2.14.1 is fine; versions
    # in between untested, so only 2.1 is treated)
    return torch.__version__.startswith('2.1.')


def _no_cpu_flash_attention():
    """torch 2.1: the math / memory-efficient kernels instead of flash (the
    forward picks the kernel whose backward then runs)."""
    return torch.backends.cuda.sdp_kernel(enable_flash=False)


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under ``torch.autocast`` on the
    device the model is on (CPU included), without loss scaling.
    ``tools/train.py --amp`` picks it on a machine without CUDA, where
    bfloat16 is the autocast type torch supports.

    Args:
        dtype (str): ``'bfloat16'`` (default). ``'float16'`` is accepted
            for CUDA only, where mmengine's ``AmpOptimWrapper`` (with its
            loss scaler) is the better choice.
        **kwargs: ``OptimWrapper``'s arguments.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        if dtype not in DTYPES:
            raise ValueError(f'AutocastOptimWrapper: dtype={dtype!r}; choose '
                             f'from {DTYPES}')
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model):
        device = next(model.parameters()).device.type
        if device == 'cpu' and self.cast_dtype == torch.float16:
            raise ValueError('AutocastOptimWrapper: float16 autocast needs '
                             'CUDA; use dtype=bfloat16 on CPU')
        avoid_flash = device == 'cpu' and _cpu_flash_bf16_backward_broken()
        with super().optim_context(model), torch.autocast(
                device_type=device, dtype=self.cast_dtype), \
                (_no_cpu_flash_attention() if avoid_flash else nullcontext()):
            yield
