"""Training the BiLSTM tagger: the buggy version. `packlint examples/` reports the loss below.

The model unpacks in model.py; packlint follows its output into this file's loss.
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from model import BiLSTMTagger

N_TAGS = 5


def collate(batch):
    words, tags = zip(*batch)
    lengths = torch.tensor([len(w) for w in words])
    # tags are padded with 0, which is also a real tag
    return pad_sequence(words, batch_first=True), pad_sequence(tags, batch_first=True), lengths


def train(dataset, vocab_size=100, epochs=3):
    model = BiLSTMTagger(vocab_size, N_TAGS)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    criterion = nn.CrossEntropyLoss()
    loader = DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=collate)
    for epoch in range(epochs):
        for words, tags, lengths in loader:
            optimizer.zero_grad()
            logits = model(words, lengths)
            # the bug: padded steps are scored as tag 0, and their gradients reach the output layer
            loss = criterion(logits.view(-1, N_TAGS), tags.view(-1))  # expect: PKL001
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}")
    return model


if __name__ == "__main__":
    torch.manual_seed(0)
    data = [(torch.randint(1, 100, (n,)), torch.randint(0, N_TAGS, (n,))) for n in torch.randint(2, 12, (32,)).tolist()]
    train(data)
