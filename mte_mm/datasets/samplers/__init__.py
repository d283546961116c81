from .resumable_sampler import ResumableSeededSampler, SeededIndex, stream_seed

__all__ = ['ResumableSeededSampler', 'SeededIndex', 'stream_seed']
