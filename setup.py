"""mte_mm: Multi-Token Enhancing (arXiv 2411.15787) for OpenMMLab."""
from setuptools import find_packages, setup

setup(
    name='mte_mm',
    version='0.1.0',
    description='Multi-Token Enhancing (MTE) self-supervised pretraining '
    'as an OpenMMLab (mmpretrain / mmdet / mmseg) plugin',
    packages=find_packages(include=['mte_mm', 'mte_mm.*']),
    python_requires='>=3.8',
    license='Apache-2.0',
    # The lowest versions CI tests (requirements/classic.txt: torch 2.1 with
    # mmcv-lite); the pinned stack of CPU CI lives in requirements/. mmcv is
    # not listed: mmcv-lite (pretraining) and mmcv (transfer) both provide
    # it, and import mte_mm checks its version.
    install_requires=[
        'torch>=2.1',
        'mmengine>=0.10.0',
        'mmpretrain>=1.2.0',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0'],
        'seg': ['mmsegmentation>=1.0.0'],
        'tests': ['pytest', 'timm', 'scikit-learn'],
    },
)
