# Runtime shared by every mte_mm config (mmpretrain's default_runtime, plus
# the mte_mm import that applies our compat shims and registers our modules).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mte_mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # stop on a NaN / inf loss before the update (policy='skip' to skip it)
    non_finite=dict(type='NonFiniteLossGuardHook', policy='stop'),
    # per-iteration seeds and mid-epoch resumes (with ResumableSeededSampler
    # and SeedPerSample in the data config): a resumed run equals the
    # uninterrupted one
    exact_resume=dict(type='ExactResumeHook'),
    # DINO / iBOT's frozen first-epoch last layer: no update, no decay, no
    # optimizer state, as the official code
    frozen_params=dict(type='FrozenParamsHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # becomes gloo on CPU-only machines
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
