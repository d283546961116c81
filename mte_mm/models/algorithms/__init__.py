from .mte_dino import MTEDINO

__all__ = ['MTEDINO']
