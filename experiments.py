"""The main job's command-line runs: `python experiments.py two-layer | best | ablation`.

two-layer: the two-layer net of 4.1.6 with the setting its search chose
(fc_training.TWO_LAYER), trained on CIFAR-10; prints its validation and test accuracy.
best: Problem 4.4.7's fast net end to end (best_model.train_best) for the epochs that fit in
90 minutes of training on this machine (timed first; --budget-minutes M, or --epochs N),
recorded under 'best_model' in results.json. ablation: its choices changed one at a time on runs of a third
of its epochs, scored on validation (best_model.run_ablation); each run is recorded as it ends,
a rerun continues, and --max-runs N trains N more and stops. HW5_QUICK=1 runs small versions in
about a minute.
"""
import argparse
import math

from data_utils import get_CIFAR10_data
from fc_training import TWO_LAYER, train_two_layer


def two_layer(root=None):
    """Train 4.1.6's two-layer net with TWO_LAYER and print its accuracies; returns the Solver."""
    data = get_CIFAR10_data(root=root)
    solver = train_two_layer(data, **TWO_LAYER)
    test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"TwoLayerNet {TWO_LAYER}")
    print(f"validation accuracy: {solver.best_val_acc:.3f}  test accuracy: {test_acc:.3f}  "
          f"({solver.wall_time_s:.0f}s)")
    return solver


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["two-layer", "best", "ablation"],
                        help="two-layer: the 4.1.6 net (about a minute); best: the 4.4.7 fast net "
                             "(the epochs that fit in 90 minutes of training here, "
                             "timed first, plus a few minutes of testing; HW5_QUICK=1 "
                             "for a small version in seconds); "
                             "ablation: its choices one by one on validation (16 runs, about "
                             "9-10 hours on 2 cores; a rerun continues where one stopped)")
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: $CIFAR10_DIR)")
    parser.add_argument("--validation-only", action="store_true",
                        help="best: train and record without scoring the test set (for "
                             "choosing a recipe; the final run scores it once)")
    parser.add_argument("--max-runs", type=int, default=None, metavar="N",
                        help="ablation: train at most N more runs (32-39 min each on 2 cores), then stop")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="best: train the recipe with seed S instead of its own (a second "
                             "seed's run, checkpointed apart; give it its own HW5_RESULTS file)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="best: train the recipe for N epochs instead of its own, its "
                             "schedule stretched or compressed to them (what another machine "
                             "fits in the budget; checkpointed apart; give it its own "
                             "HW5_RESULTS file)")
    parser.add_argument("--budget-minutes", type=float, default=None, metavar="M",
                        help="best: train the epochs that fit in M minutes of training on this "
                             "machine (default 90), timed on a throwaway run of 20 steps first")
    args = parser.parse_args(argv)
    if args.max_runs is not None and (args.experiment != "ablation" or args.max_runs < 0):
        parser.error("--max-runs takes a non-negative N, for ablation only")
    if args.seed is not None and (args.experiment != "best" or args.seed < 0):
        parser.error("--seed takes a non-negative S, for best only")
    if args.epochs is not None and (args.experiment != "best" or args.epochs < 1):
        parser.error(f"--epochs takes a positive N, for best only (got {args.epochs} for {args.experiment})")
    if args.budget_minutes is not None and (args.experiment != "best"
                                            or not 0 < args.budget_minutes < math.inf
                                            or args.epochs is not None):
        parser.error(f"--budget-minutes takes a finite M > 0, for best only and not with --epochs "
                     f"(got {args.budget_minutes:g} for {args.experiment}"
                     + (f" with --epochs {args.epochs})" if args.epochs is not None else ")"))
    if args.experiment == "two-layer":
        two_layer(args.data)
        return
    import best_model             # here: two-layer needs neither convnet nor the Cython build
    if args.experiment == "best":
        best_model.train_best(args.data, touch_test=not args.validation_only, seed=args.seed,
                              epochs=args.epochs, budget_minutes=args.budget_minutes)
    else:
        best_model.run_ablation(args.data, max_runs=args.max_runs)


if __name__ == "__main__":
    main()
