"""Small programs several test files write into temporary projects (imported as ``sources``, like ``markers``)."""


def encoder(pool_default: bool) -> str:
    """A model module whose ``Enc(pool=...)`` pools over padded steps (PKL005) only when ``pool`` is true: the
    class default and the construction sites decide whether the finding stands."""
    return f"""\
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Enc(nn.Module):
    def __init__(self, pool={pool_default}):
        super().__init__()
        self.rnn = nn.GRU(4, 8, batch_first=True)
        self.pool = pool

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        if self.pool:
            return out.mean(1)
        return out
"""
