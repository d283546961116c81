"""mte_mm: Multi-Token Enhancing (MTE, arXiv 2411.15787) for OpenMMLab.

Importing this package applies the compatibility shims in :mod:`mte_mm.compat`
and registers every mte_mm module (into the mmpretrain registries, and the
dense-task ones also into the ``mte_mm`` scope, :mod:`mte_mm.registry`), so
``custom_imports=dict(imports=['mte_mm'])`` is all a config needs.

What importing changes outside this package (each only on the versions
that need it; docs/installation.md):

- ``torch_load``: mmengine's local checkpoint loader reads with
  ``weights_only=False`` (torch >= 2.6, mmengine <= 0.10.7), so Runner
  checkpoints resume;
- ``pkg_resources``: ``Config`` resolves ``mmdet::`` / ``mmseg::`` bases with
  ``importlib.metadata`` (only when ``pkg_resources`` is missing);
- ``adjust_hue``: ``mmcv.adjust_hue`` works with numpy 2 (mmcv < 2.2);
- ``atomic_checkpoints``: mmengine's ``local`` file backend writes through a
  temporary file and ``os.replace`` (mmengine <= 0.10.7).

``MTE_MM_DISABLE_SHIMS=name[,name...]`` (or ``all``) set before the import
turns them off. An mmcv outside ``>=2.0.0rc4,<2.2.0`` is refused with an
``ImportError`` that says how to install one.
"""
from . import compat

compat.apply_all()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'
