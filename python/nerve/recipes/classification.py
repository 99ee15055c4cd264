"""``nerve train mlp | cnn | resnet``: a classifier on the built-in 8x8 digits
with cross-entropy, shuffled mini-batches, the test set evaluated after
every epoch; data-parallel under --distributed."""
import nerve
from nerve import nn
from nerve.data import DataLoader
from nerve.recipes.training import Task


def digits_split(config):
    """The built-in 8x8 digits in [0, 1], 80/20 stratified split (fixed, seed 0): (train, test) TensorDatasets."""
    from nerve.data import TensorDataset, load_digits, train_test_split
    images, labels = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.2, seed=0, stratify=labels)
    return TensorDataset(x_train, y_train), TensorDataset(x_test, y_test)


def evaluate(model, dataset, device, criterion=None):
    """(mean loss, accuracy) of a classifier over a dataset, in eval mode without gradients."""
    criterion = nn.CrossEntropyLoss() if criterion is None else criterion
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with nerve.no_grad():
        for x, y in DataLoader(dataset, batch_size=512):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += float(criterion(logits, y)) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
    return total_loss / max(n, 1), correct / max(n, 1)


class ClassifierTraining(Task):
    unit = "batch"
    by_epoch = True
    distributed = True
    plots = True

    def __init__(self, name, model, train_set, test_set, config):
        super().__init__(name, model, train_set, test_set, config)
        self.criterion = nn.CrossEntropyLoss()
        self.net, self.sampler, self.world = model, None, 1
        if config.distributed:  # each rank trains on its shard; DDP averages gradients; rank 0 reports and saves
            from nerve import distributed as dist
            from nerve.nn.parallel import DistributedDataParallel
            self.net = DistributedDataParallel(model)
            self.sampler = dist.DistributedSampler(train_set, shuffle=True, seed=config.seed)
            self.world, self.lead = dist.get_world_size(), dist.get_rank() == 0
        self.loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=self.sampler is None,
                                 sampler=self.sampler, num_workers=config.num_workers)
        self.history = {"loss": [], "train_accuracy": [], "test_loss": [], "test_accuracy": []}
        self.seen = 0  # training samples over all ranks so far

    def batches(self, epoch):
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        self.total_loss, self.correct, self.n = 0.0, 0, 0  # this epoch's, on this rank
        return self.loader

    def train_step(self, batch):
        x, y = (t.to(self.config.device) for t in batch)
        logits = self.net(x)
        loss = self.criterion(logits, y)
        self.update(loss)
        self.total_loss += float(loss) * len(y)
        self.correct += int((logits.detach().argmax(1) == y).sum())
        self.n += len(y)
        self.seen += len(y) * self.world  # the shards are the same size
        return {"loss": f"{self.total_loss / self.n:.4f}", "acc": f"{self.correct / self.n:.3f}",
                "samples_s": self.per_second(self.seen)}

    def end_epoch(self, epoch):
        total_loss, correct, n = self.total_loss, self.correct, self.n
        if self.config.distributed:  # this epoch's training loss and accuracy over every rank's shard
            from nerve import distributed as dist
            totals = nerve.tensor([total_loss, correct, n], dtype=nerve.float64)
            dist.all_reduce(totals)
            total_loss, correct, n = totals.tolist()
        test_loss, test_acc = evaluate(self.model, self.test_set, self.config.device, self.criterion)
        self.history["loss"].append(total_loss / n)
        self.history["train_accuracy"].append(correct / n)
        self.history["test_loss"].append(test_loss)
        self.history["test_accuracy"].append(test_acc)
        return {"loss": f"{total_loss / n:.4f}", "acc": f"{correct / n:.3f}", "test_acc": f"{test_acc:.3f}"}

    def report(self, seconds):
        h = self.history
        return {"test_accuracy": h["test_accuracy"][-1], "test_loss": h["test_loss"][-1], "train_loss": h["loss"][-1],
                "epochs": self.config.epochs, "samples_per_second": self.seen / seconds,
                "train_samples": len(self.train_set), "test_samples": len(self.test_set)}

    def summary(self, r):
        c, name = self.config, self.name
        return [f"{name}: test accuracy {r['test_accuracy'] * 100:.2f}% ({r['test_samples']} samples), "
                f"test loss {r['test_loss']:.4f}, train loss {r['train_loss']:.4f}",
                f"{name}: {c.epochs} epochs in {r['seconds']:.1f} s ({r['samples_per_second']:.0f} samples/s), "
                f"{self.trained_with(r)}",
                self.checkpoint_line()]
