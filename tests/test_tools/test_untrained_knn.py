"""tools/benchmarks/untrained_knn.py: the kNN of a run's initial weights."""
import re

from ..conftest import run_tool


def test_untrained_knn_is_a_function_of_the_seed(labelled_folder):
    proc = run_tool(['tools/benchmarks/untrained_knn.py',
                     'configs/demo/mte_dino_digits.py', '--data-root',
                     labelled_folder, '--seeds', '0', '0', '--ks', '3',
                     '--resize', '16', '--crop', '16'])
    values = [float(v) for v in re.findall(r'^seed 0: k=3 ([\d.]+)$',
                                           proc.stdout, re.M)]
    # the same initial weights at the same seed: the same number, a whole
    # count of the 8 val images
    assert len(values) == 2 and values[0] == values[1]
    assert values[0] / 12.5 == round(values[0] / 12.5)
