"""Shorten or lengthen an epoch-based config's training in one place."""
from mmengine.config import Config


def set_max_epochs(cfg: Config, epochs: int) -> None:
    """Train ``cfg`` for ``epochs`` epochs, in place: parameter schedulers
    that ran to the old end now end at ``epochs``, ones that would start at
    or after it are dropped, and the checkpoint interval is at most
    ``epochs`` (so the last epoch is saved)."""
    if epochs < 1:
        raise ValueError(f'epochs must be >= 1, got {epochs}')
    old_end = cfg.train_cfg.max_epochs
    schedulers = []
    for scheduler in cfg.get('param_scheduler', None) or []:
        if scheduler.get('begin', 0) >= epochs:
            continue
        if scheduler.get('end') == old_end or \
                scheduler.get('end', 0) > epochs:
            scheduler.end = epochs
        schedulers.append(scheduler)
    cfg.param_scheduler = schedulers
    cfg.train_cfg.max_epochs = epochs
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint is not None and checkpoint.get('interval', 1) > epochs:
        checkpoint.interval = epochs
