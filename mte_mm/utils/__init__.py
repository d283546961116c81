from .dist import prepare_cpu_distributed

__all__ = ['prepare_cpu_distributed']
