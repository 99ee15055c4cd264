"""A word-level language model in the style of the classic PyTorch example:
a Dictionary/Corpus built from text files, batchify + get_batch with bptt,
an Embedding -> 2-layer LSTM -> Linear decoder with tied weights and
init_weights, hidden state repackaged (detached) between batches, gradient
clipping and the hand-written SGD update on p.data, perplexity under no_grad,
and the model saved with torch.save and read back with torch.load."""
import math
import random

from tests.compat.torch_alias import nn, torch


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    def __init__(self, root):
        self.dictionary = Dictionary()
        self.train = self.tokenize(root / "train.txt")
        self.valid = self.tokenize(root / "valid.txt")

    def tokenize(self, path):
        with open(path, "r", encoding="utf8") as f:
            idss = []
            for line in f:
                words = line.split() + ["<eos>"]
                idss.append(torch.tensor([self.dictionary.add_word(w) for w in words]).type(torch.int64))
        return torch.cat(idss)


def write_text(root, seed=0):
    """Sentences from a small grammar: enough structure for a 2-layer LSTM to learn in a few dozen steps."""
    rng = random.Random(seed)
    subjects = ["the cat", "a dog", "the old man", "my sister", "the bird"]
    verbs = ["sees", "likes", "chases", "finds"]
    objects = ["the ball", "a red box", "the small house", "her friend"]
    endings = ["today", "again", "in the park", "at night"]

    def sentences(n):
        return "\n".join(" ".join([rng.choice(subjects), rng.choice(verbs), rng.choice(objects), rng.choice(endings)])
                         for _ in range(n)) + "\n"

    (root / "train.txt").write_text(sentences(600), encoding="utf8")
    (root / "valid.txt").write_text(sentences(80), encoding="utf8")


def batchify(data, bsz, device):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous().to(device)


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.2, tie_weights=True):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            assert nhid == ninp
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.nhid, self.nlayers = nhid, nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def evaluate(model, data_source, criterion, bptt, eval_batch_size):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def test_word_language_model_learns(tmp_path):
    write_text(tmp_path)
    device = torch.device("cpu")
    corpus = Corpus(tmp_path)
    train_data = batchify(corpus.train, 16, device)
    val_data = batchify(corpus.valid, 8, device)
    ntokens = len(corpus.dictionary)
    bptt, lr, clip = 12, 10.0, 0.25

    model = RNNModel(ntokens, 32, 32, 2).to(device)
    assert model.decoder.weight is model.encoder.weight
    criterion = nn.NLLLoss()
    before = evaluate(model, val_data, criterion, bptt, 8)

    model.train()
    hidden = model.init_hidden(16)
    for epoch in range(4):
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i, bptt)
            hidden = repackage_hidden(hidden)
            model.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
    after = evaluate(model, val_data, criterion, bptt, 8)
    # Untrained, perplexity is about the vocabulary size (27); PyTorch runs this very program to 3.0.
    assert math.exp(after) < 0.25 * math.exp(before), (math.exp(before), math.exp(after))

    with open(tmp_path / "model.pt", "wb") as f:
        torch.save(model.state_dict(), f)
    with open(tmp_path / "model.pt", "rb") as f:
        restored = RNNModel(ntokens, 32, 32, 2)
        restored.load_state_dict(torch.load(f))
    assert abs(evaluate(restored, val_data, criterion, bptt, 8) - after) < 1e-6
