"""The ``nerve`` command: ``nerve info``, ``nerve train <model>``, ``nerve bench``."""
import argparse
import os
import sys


def _add_train_parser(sub):
    from nerve.models import RECIPES
    from nerve.models.training import OPTIMIZERS
    p = sub.add_parser("train", help="train a ready model on built-in data",
                       description="Train a ready model on built-in offline data and save a checkpoint. Models: "
                                   + "; ".join(f"{k}: {r.description}" for k, r in RECIPES.items()))
    p.add_argument("model", choices=sorted(RECIPES), help="which model to train")
    p.add_argument("--epochs", type=int, help="passes over the training set (default: the model's)")
    p.add_argument("--batch-size", type=int, help="samples per step (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default: the model's (adam for mlp)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (decoupled for adamw); default 0")
    p.add_argument("--seed", type=int, default=0, help="seed of nerve's generator (init, dropout, shuffling)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0: in process)")
    p.add_argument("--out", help="checkpoint path (default ./runs/<model>.npz)")
    p.add_argument("--plot", help="also write loss and accuracy curves to this PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _train(args):
    import nerve
    from nerve.models import RECIPES
    from nerve.models.training import TrainConfig
    recipe = RECIPES[args.model]
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer}
    config = TrainConfig(**{**recipe.defaults, **{k: v for k, v in given.items() if v is not None}},
                         weight_decay=args.weight_decay, seed=args.seed, device=args.device,
                         num_workers=args.workers, out=args.out or os.path.join("runs", f"{args.model}.npz"),
                         plot=args.plot, progress=not args.quiet)
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0:
        raise SystemExit(f"nerve train: --epochs and --batch-size must be >= 1 and --lr > 0, got {config.epochs}, "
                         f"{config.batch_size} and {config.lr}")
    if nerve.device(config.device).type == "cuda" and not nerve.cuda.is_available():
        raise SystemExit(f"nerve train: --device {config.device}: {nerve.cuda.unavailable_reason()}")
    nerve.manual_seed(config.seed)
    train_set, test_set = recipe.data(config)
    model = recipe.build(config)
    return recipe.train(args.model, model, train_set, test_set, config)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: deep learning with hand-written kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, SIMD variant, threads, CUDA status")
    _add_train_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        from nerve.info import info
        info()
    elif args.command == "train":
        _train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
