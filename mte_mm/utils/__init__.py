from .dist import destroy_distributed, prepare_cpu_distributed

__all__ = ['destroy_distributed', 'prepare_cpu_distributed']
