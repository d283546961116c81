"""Mixed precision for a config, as ``tools/train.py --amp`` sets it."""
import torch


def set_amp(cfg, dtype: str = 'auto') -> None:
    """Mixed precision for ``--amp``: on CUDA mmengine's ``AmpOptimWrapper``
    (``dtype='auto'``: bfloat16 where the GPU supports it, else float16; its
    dynamic loss scale is what float16 needs, and harmless for bfloat16),
    on CPU our ``AutocastOptimWrapper`` (bfloat16 autocast), where mmengine's
    wrapper refuses to run.

    Raises:
        ValueError: float16 asked for without CUDA.
    """
    if torch.cuda.is_available():
        if dtype == 'auto':
            dtype = 'bfloat16' if torch.cuda.is_bf16_supported() \
                else 'float16'
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = dtype
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        return
    if dtype == 'float16':
        raise ValueError('--amp-dtype float16 needs CUDA; on CPU use '
                         'bfloat16 (the default)')
    cfg.optim_wrapper.type = 'AutocastOptimWrapper'
    cfg.optim_wrapper.dtype = 'bfloat16'
