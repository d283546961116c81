"""mte_mm: Multi-Token Enhancing (MTE, arXiv 2411.15787) for OpenMMLab.

Importing this package applies the compatibility shims in :mod:`mte_mm.compat`
and registers every mte_mm module (into the mmpretrain registries, and the
dense-task ones also into the ``mte_mm`` scope, :mod:`mte_mm.registry`), so
``custom_imports=dict(imports=['mte_mm'])`` is all a config needs.
"""
from . import compat

compat.apply_all()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'
