from .amp import set_amp
from .cli import add_launch_args, load_config, parse_launch_args
from .data_check import (DataRootError, check_data_roots,
                         check_dataset_config, check_knn_root)
from .dist import (destroy_distributed, exit_after_cpu_distributed,
                   free_port, prepare_cpu_distributed)
from .schedule import set_max_epochs

__all__ = ['DataRootError', 'add_launch_args', 'check_data_roots',
           'check_dataset_config', 'check_knn_root', 'destroy_distributed',
           'exit_after_cpu_distributed', 'free_port', 'load_config',
           'parse_launch_args', 'prepare_cpu_distributed', 'set_amp',
           'set_max_epochs']
