"""The ``nerve`` command: ``nerve info``, ``nerve train <model>``, ``nerve bench``."""
import argparse
import os
import sys

from nerve.models.bert import add_embed_parser, embed


def _add_train_parser(sub):
    from nerve.recipes import RECIPES
    from nerve.recipes.training import OPTIMIZERS
    p = sub.add_parser("train", help="train a ready model on built-in data",
                       description="Train a ready model on built-in offline data and save a checkpoint. Models: "
                                   + "; ".join(f"{k}: {r.description}" for k, r in RECIPES.items()))
    p.add_argument("model", choices=sorted(RECIPES), help="which model to train")
    p.add_argument("--epochs", type=int, help="passes over the training set (default: the model's)")
    p.add_argument("--batch-size", type=int, help="samples per step (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS),
                   help="default: the model's (sgd, Nesterov momentum 0.9, for mlp)")
    p.add_argument("--weight-decay", type=float, help="L2 penalty (decoupled for adamw); default: the model's")
    p.add_argument("--schedule", choices=["none", "cosine"], help="learning-rate schedule; default: the model's")
    p.add_argument("--threads", type=int, help="CPU threads for the kernels (default: the model's; mlp uses 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of nerve's generator (init, dropout, shuffling)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0: in process)")
    p.add_argument("--out", help="checkpoint path (default ./runs/<model>.npz)")
    p.add_argument("--plot", help="also write loss and accuracy curves to this PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--steps", type=int, help="optimizer steps, for the language models (default: the model's)")
    p.add_argument("--clip", type=float, default=1.0, help="language models: max gradient norm (0: off); default 1")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="gan: one-sided label smoothing, real label 1 - this (e.g. 0.1); default 0")
    p.add_argument("--sample-every", type=int, default=0,
                   help="gan: also write a grid of samples every this many steps (default 0: at the end only)")
    p.add_argument("--autocast", choices=["bf16"],
                   help="mixed precision: train and evaluate under nerve.autocast with bfloat16 (matmul, linear, "
                        "conv, attention, LSTM/RNN in bf16; losses in float32; float32 master weights)")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option, e.g. -o hidden=256 -o seq_len=128 (unknown keys list the model's options)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of `mpirun -np N nerve train ...` (MPI on cpu, NCCL on "
                        "cuda; needs mpi4py); --batch-size is per rank; rank 0 prints and saves")


def _train(args):
    import nerve
    import nerve.kernels
    from nerve.recipes import RECIPES, TrainConfig, train
    recipe = RECIPES[args.model]
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
             "steps": args.steps, "weight_decay": args.weight_decay, "schedule": args.schedule,
             "threads": args.threads}
    config = TrainConfig(**{**recipe.defaults, **{k: v for k, v in given.items() if v is not None}},
                         seed=args.seed, device=args.device, num_workers=args.workers,
                         out=args.out or os.path.join("runs", f"{args.model}.npz"), plot=args.plot,
                         progress=not args.quiet, distributed=args.distributed, clip=args.clip,
                         label_smoothing=args.label_smoothing, sample_every=args.sample_every, autocast=args.autocast,
                         options=_options(args.model, recipe.options, args.option))
    if config.epochs < 1 or config.batch_size < 1 or not config.lr > 0 or config.weight_decay < 0:
        raise SystemExit(f"nerve train: need --epochs >= 1, --batch-size >= 1, --lr > 0 and --weight-decay >= 0, "
                         f"got {config.epochs}, {config.batch_size}, {config.lr} and {config.weight_decay}")
    if config.threads is not None and config.threads < 1:
        raise SystemExit(f"nerve train: --threads must be >= 1, got {config.threads}")
    if not 0 <= config.label_smoothing < 1 or config.sample_every < 0:
        raise SystemExit(f"nerve train: need --label-smoothing in [0, 1) and --sample-every >= 0, "
                         f"got {config.label_smoothing} and {config.sample_every}")
    _check_run_options(args, recipe, config, [k for k, r in RECIPES.items() if not r.task.by_epoch])
    threads_before = nerve.kernels.get_num_threads()
    try:
        if config.threads is not None:
            nerve.kernels.set_num_threads(config.threads)
        if not config.distributed:
            return train(args.model, config)
        if not recipe.task.distributed:
            raise SystemExit(f"nerve train: --distributed works with the classifier recipes, not {args.model!r}")
        from nerve import distributed as dist
        dist.init_process_group("nccl" if nerve.device(config.device).type == "cuda" else "mpi")
        try:
            return train(args.model, config)
        finally:
            dist.destroy_process_group()
    finally:
        nerve.kernels.set_num_threads(threads_before)


def _check_run_options(args, recipe, config, step_models):
    """Everything a run needs, checked before any data loads or any step runs: each failure is one
    line naming the option (SystemExit), never a traceback halfway through training."""
    import nerve
    by_epoch = recipe.task.by_epoch
    if by_epoch and args.steps is not None:
        raise SystemExit(f"nerve train {args.model}: --steps is for the models trained by steps "
                         f"({', '.join(step_models)}); {args.model} trains for --epochs")
    if not by_epoch and config.steps < 1:
        raise SystemExit(f"nerve train {args.model}: need --steps >= 1, got {config.steps}")
    if config.num_workers < 0:
        raise SystemExit(f"nerve train: --workers must be >= 0 (0: load in this process), got {config.num_workers}")
    try:
        device = nerve.device(config.device)
    except (ValueError, TypeError):
        raise SystemExit(f"nerve train: --device {config.device!r} is not a device nerve has; expected cpu, cuda or "
                         f"cuda:<index>") from None
    if device.type == "cuda" and not nerve.cuda.is_available():
        raise SystemExit(f"nerve train: --device {config.device}: {nerve.cuda.unavailable_reason()}")
    if config.plot:
        if not recipe.task.plots:
            raise SystemExit(f"nerve train {args.model}: --plot draws the classifiers' loss and accuracy curves; "
                             f"{args.model} has none")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SystemExit("nerve train: --plot needs matplotlib, which is not installed (pip install matplotlib); "
                             "run without --plot, or install it first") from None


def _options(model, defaults, given):
    """The recipe's options updated by -o KEY=VALUE strings, each value parsed as its default's type."""
    options = dict(defaults)
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            known = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
            raise SystemExit(f"nerve train {model}: -o expected KEY=VALUE with a known KEY, got {item!r}; "
                             f"options: {known}")
        kind = type(defaults[key])
        try:
            if kind is bool:
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                options[key] = value.lower() in ("1", "true", "yes")
            else:
                options[key] = kind(value.encode().decode("unicode_escape") if kind is str else value)
        except ValueError:
            raise SystemExit(f"nerve train {model}: -o {key} expected a {kind.__name__}, got {value!r}") from None
    return options


def main(argv=None):
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: deep learning with hand-written kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, SIMD variant, threads, CUDA status")
    _add_train_parser(sub)
    add_embed_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        from nerve.info import info
        info()
    elif args.command == "train":
        try:
            _train(args)
        except BrokenPipeError:  # `nerve train mlp | head -1`: the reader left; no traceback
            sys.stdout = open(os.devnull, "w")
            return 1
    elif args.command == "embed":
        embed(args.texts, args.model, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
