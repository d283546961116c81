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
    # Honest lower bounds for users who bring their own (CUDA) stack; the
    # known-good pins for CPU CI live in requirements/.
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmpretrain>=1.0.0',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0'],
        'seg': ['mmsegmentation>=1.0.0'],
        'tests': ['pytest', 'timm', 'scikit-learn'],
    },
)
