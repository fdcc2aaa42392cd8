"""Validation accuracy per epoch of our best model's runs beside airbench94's, on the same split.

    .venv/bin/python benchmarks/plot_reference.py \
        --ours results/best_model-36epochs.json \
        --reference results/airbench94_torch-val5000.json --out benchmarks/reference_curves.png

--ours (repeatable) is a record of `python experiments.py best` (its 'best_model' entry, or a
results file that holds one); --reference is the --out record of benchmarks/airbench94_torch.py
run with --val. All must score the same held-out images (the last 5,000 training images), else
the script refuses. It draws validation accuracy against epochs and against training minutes
(each run's own clock, 2 cores) and prints the curves as a table (reference.py does the work).
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import reference  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", action="append",
                        help="a best-model record (repeat for several; default results/results.json)")
    parser.add_argument("--reference", required=True)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "reference_curves.png"))
    args = parser.parse_args(argv)
    try:
        curves = [reference.ours_curve(path) for path in
                  args.ours or [os.path.join(REPO, "results", "results.json")]]
        curves.append(reference.reference_curve(args.reference))
        reference.check_same_validation(curves)
    except ValueError as error:
        sys.exit(str(error))
    print("\n".join(reference.curve_table(curves)))
    import matplotlib
    matplotlib.use("Agg")
    reference.plot_curves(curves).savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
