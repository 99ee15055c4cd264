"""A PyTorch-style seq2seq program: a GRU encoder over packed variable-length input, a GRU
decoder with teacher forcing, padded targets ignored by the loss, gradient clipping. The task
(reverse a sequence of tokens) is learnable in a few dozen steps: the loss must fall."""
import nerve as torch

nn = torch.nn
F = torch.nn.functional
PAD, BOS, VOCAB = 0, 1, 12


class Encoder(nn.Module):
    def __init__(self, vocab, emb, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.rnn = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)

    def forward(self, src, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(src), lengths, batch_first=True,
                                                   enforce_sorted=False)
        outputs, hidden = self.rnn(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True)
        hidden = torch.tanh(self.bridge(torch.cat([hidden[-2], hidden[-1]], dim=1)))
        return outputs, hidden.unsqueeze(0)


class Decoder(nn.Module):
    def __init__(self, vocab, emb, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=PAD)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, tgt_in, hidden):
        output, hidden = self.rnn(self.embedding(tgt_in), hidden)
        return self.out(output), hidden


def make_batch(batch=16, max_len=6):
    lengths = torch.randint(2, max_len + 1, (batch,))
    src = torch.zeros(batch, max_len, dtype=torch.long)
    tgt = torch.zeros(batch, max_len + 1, dtype=torch.long)
    for i, n in enumerate(lengths.tolist()):
        tokens = torch.randint(2, VOCAB, (n,))
        src[i, :n] = tokens
        tgt[i, 0] = BOS
        tgt[i, 1:n + 1] = tokens[torch.arange(n - 1, -1, -1)]  # reversed
    return src, lengths, tgt


def test_seq2seq_gru_with_packed_sequences_learns():
    torch.manual_seed(0)
    encoder, decoder = Encoder(VOCAB, 16, 32), Decoder(VOCAB, 16, 32)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    losses = []
    for step in range(60):
        src, lengths, tgt = make_batch()
        optimizer.zero_grad()
        _, hidden = encoder(src, lengths)
        logits, _ = decoder(tgt[:, :-1], hidden)
        loss = criterion(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)
