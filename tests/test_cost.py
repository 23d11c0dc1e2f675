"""Cost columns: parameter and MAC counts with known answers."""

import torch
from torch import nn

from blurbench.leaderboard.cost import count_macs, first_sample, input_size, method_call, parameter_count
from blurbench.leaderboard.table import fmt_count


class _Conv(nn.Module):
    task = "deblurring"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 3, 1)
        self.tied = self.conv  # a module reached twice is counted once

    def restore(self, batch):
        return self.head(self.conv(batch["blurry"]))


def test_parameters_and_macs_of_a_known_network():
    net = _Conv()
    assert parameter_count(net) == (8 * 3 * 9 + 8) + (3 * 8 + 3)
    batch = {"blurry": torch.rand(4, 3, 16, 20), "id": ["a", "b", "c", "d"]}
    sample = first_sample(batch)
    assert sample["blurry"].shape[0] == 1 and sample["id"] == ["a"] and input_size(sample) == "1×3×16×20"
    # only the method's own computation is counted, on one sample: 8·3·9 + 3·8 MACs per pixel
    assert count_macs(method_call(net, sample)) == (8 * 3 * 9 + 3 * 8) * 16 * 20


def test_counts_print_in_engineering_units():
    assert [fmt_count(v) for v in (None, 0, 950, 1_955_250, 2_442_586_740)] == ["–", "0", "950", "1.96M", "2.44G"]
