"""Training the BiLSTM tagger: the corrected twin of train.py. `packlint` finds nothing here.

The fix: collate pads the tags with -100, the value CrossEntropyLoss ignores, so padded steps add no term
and no gradient.
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from model import BiLSTMTagger

N_TAGS = 5
TAG_PAD = -100


def collate(batch):
    words, tags = zip(*batch)
    lengths = torch.tensor([len(w) for w in words])
    # padded tag steps hold TAG_PAD, which no real tag uses
    return pad_sequence(words, batch_first=True), pad_sequence(tags, batch_first=True, padding_value=TAG_PAD), lengths


def train(dataset, vocab_size=100, epochs=3):
    model = BiLSTMTagger(vocab_size, N_TAGS)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    # ignore_index equals the padding value of the tags
    criterion = nn.CrossEntropyLoss(ignore_index=TAG_PAD)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=collate)
    for epoch in range(epochs):
        for words, tags, lengths in loader:
            optimizer.zero_grad()
            logits = model(words, lengths)
            loss = criterion(logits.view(-1, N_TAGS), tags.view(-1))
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}")
    return model


if __name__ == "__main__":
    torch.manual_seed(0)
    data = [(torch.randint(1, 100, (n,)), torch.randint(0, N_TAGS, (n,))) for n in torch.randint(2, 12, (32,)).tolist()]
    train(data)
