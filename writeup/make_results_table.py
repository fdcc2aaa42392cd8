"""Turn results/results.json (written by the notebook runs) into a LaTeX fragment.

The fragment defines ``\\resultsTableBody`` (the rows of the Problem 4 results
table in writeup/sections/p4_summary.tex), ``\\resultsStatus`` ("available" or
"pending"), ``\\resultsMeta`` (one line about where the numbers came from) and
one macro per headline number, e.g. ``\\resTwoLayerValAcc``.  When the JSON file
does not exist, the table says the results are pending instead of showing
numbers.

Format of results/results.json (every field optional unless noted)::

    {
      "meta": {"date": "2025-03-30", "device": "...", "git_commit": "...", "note": "..."},
      "two_layer":       ENTRY,   # Problem 4.1.6
      "fc_best":         ENTRY,   # Problem 4.3
      "dropout":         ENTRY,   # Problem 4.2.4, normally with "runs"
      "cnn_three_layer": ENTRY,   # Problem 4.4.6
      "best_model":      ENTRY,   # Problem 4.4.7 (extra credit), test on all 10,000 images
      "best_model_ablation": {    # its ablation: a table of its own (\\ablationTableBody)
        "rows": {"whole recipe": {"changed": {}, "runs": [
                     {"seed": 0, "val_acc": 0.85, "wall_time_s": 1580,
                      "tta": {"none": 0.85, "flip": 0.86}}, {"seed": 1, ...}]},
                 "no Dirac init": {"changed": {"dirac": false}, "runs": [...]}},
        "scored_on": "validation", "num_training": 45000, "num_validation": 5000,
        "seeds": [0, 1], "runs_done": 14, "runs_total": 14, "complete": true,
        "settings": {"widths": [64, 256, 256], "num_epochs": 9, ...}}
    }

An older ablation entry, scored on the test set, had one run a row: {"test_acc": 0.8,
"wall_time_s": 240, "tta": {...}} in place of "runs", and "num_test"; it is shown as before.

    ENTRY = {
      "train_acc": 0.61,          # accuracies are fractions in [0, 1]
      "val_acc": 0.52,
      "test_acc": 0.51,
      "wall_time_s": 312.5,       # training wall time in seconds
      "hyperparameters": {"hidden_dim": 200, "reg": 0.25, "learning_rate": 1e-3},
      "label": "...",             # overrides the row label
      "runs": [ENTRY, ...]        # several runs of one experiment, one row each
                                  # (give each run a "label")
    }

Other top-level keys are shown after the known ones, labelled by their key.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
from typing import Any, Dict, List, Optional

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_JSON = ROOT / "results" / "results.json"
DEFAULT_OUT = HERE / "generated" / "results_table.tex"

# key -> (row label, target stated in the handout); an experiment with several runs
# may give one target per run, in the order of its runs.
KNOWN = {
    "two_layer": ("Two-layer net (4.1.6)", "val $>50\\%$"),
    "fc_best": ("Best fully connected net (4.3)", "val $>50\\%$"),
    "dropout": ("Dropout experiment (4.2.4)", "---"),
    "cnn_three_layer": ("Three-layer ConvNet (4.4.6)", ("train $>40\\%$ after 1 epoch",
                                                        "val $>50\\%$")),
    "best_model": ("Fast net (4.4.7, extra; test: all 10,000)", "best effort"),
}
ACC_FIELDS = ("train_acc", "val_acc", "test_acc")
# Keys with a table of their own, left out of the results table.
OWN_TABLES = ("best_model_ablation",)
NCOLS = 6
PENDING_ROW = (
    r"\multicolumn{%d}{@{}c@{}}{\emph{Results pending: run the notebooks "
    r"(they write \texttt{results/results.json}), then \texttt{make -C writeup}.}} \\" % NCOLS
)

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def tex_escape(text: Any) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def fmt_number(value: Any) -> str:
    """A hyperparameter value as LaTeX: 0.001 -> $10^{-3}$, 2.5e-4 -> $2.5\\times10^{-4}$."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return tex_escape(repr(value))
        exp = math.floor(math.log10(abs(value)))
        if -2 <= exp < 5:
            return tex_escape(f"{value:g}")
        mant = value / 10 ** exp
        mant_s = f"{mant:.3g}"
        if mant_s in ("1", "-1"):
            return f"${'-' if mant < 0 else ''}10^{{{exp}}}$"
        return f"${mant_s}\\times10^{{{exp}}}$"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_number(v) for v in value) + "]"
    if isinstance(value, dict):
        return "\\{" + ", ".join(f"{tex_escape(k)}: {fmt_number(v)}" for k, v in value.items()) + "\\}"
    return tex_escape(value)


def fmt_acc(value: Any, where: str) -> str:
    if value is None:
        return "---"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where}: accuracy must be a fraction in [0, 1], got {value!r}")
    return f"{100 * value:.1f}\\%"


def fmt_time(value: Any, where: str) -> str:
    if value is None:
        return "---"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}: wall_time_s must be a non-negative number, got {value!r}")
    if value < 120:
        return f"{value:.0f}\\,s"
    if value < 7200:
        return f"{value / 60:.1f}\\,min"
    return f"{value / 3600:.1f}\\,h"


def fmt_hyper(hyper: Optional[Dict[str, Any]], where: str) -> str:
    if not hyper:
        return "---"
    if not isinstance(hyper, dict):
        raise ValueError(f"{where}: hyperparameters must be an object, got {hyper!r}")
    return "; ".join(f"{tex_escape(k)} = {fmt_number(v)}" for k, v in hyper.items())


def hyper_row(text: str) -> str:
    """A full-width, indented, small-type row holding the hyperparameters."""
    spec = r"@{\hspace{1.5em}}>{\raggedright\arraybackslash\footnotesize}p{\dimexpr\textwidth-1.5em\relax}@{}"
    return r"\multicolumn{" + str(NCOLS) + "}{" + spec + "}{" + text + r"} \\"


def entry_row(label: str, target: str, entry: Dict[str, Any], where: str) -> str:
    """One table row, plus a full-width row of hyperparameters when there are any."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {entry!r}")
    cells = [label, target]
    cells += [fmt_acc(entry.get(f), f"{where}.{f}") for f in ACC_FIELDS]
    cells.append(fmt_time(entry.get("wall_time_s"), f"{where}.wall_time_s"))
    row = " & ".join(cells) + r" \\"
    hyper = fmt_hyper(entry.get("hyperparameters"), f"{where}.hyperparameters")
    if hyper != "---":
        row += "\n" + hyper_row(hyper)
    return row


def experiment_rows(key: str, entry: Optional[Dict[str, Any]]) -> List[str]:
    label, target = KNOWN.get(key, (tex_escape(key), "---"))
    if entry is None:
        first = target[0] if isinstance(target, tuple) else target
        return [" & ".join([label, first] + [r"\emph{pending}"] + ["---"] * 3) + r" \\"]
    if isinstance(entry, dict) and "label" in entry:
        label = tex_escape(entry["label"])
    runs = entry.get("runs") if isinstance(entry, dict) else None
    if runs is None:
        return [entry_row(label, target, entry, key)]
    if not isinstance(runs, list) or not runs:
        raise ValueError(f"{key}.runs must be a non-empty list")
    targets = list(target) if isinstance(target, tuple) else [target]
    targets += [""] * (len(runs) - len(targets))
    rows = [r"\multicolumn{%d}{@{}l}{%s} \\" % (NCOLS, label)]
    for i, run in enumerate(runs):
        run_label = r"\quad " + tex_escape(run.get("label", f"run {i + 1}") if isinstance(run, dict) else "")
        rows.append(entry_row(run_label, targets[i], run, f"{key}.runs[{i}]"))
    return rows


def camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.replace("-", "_").split("_") if part.isalpha())


def headline_macros(results: Optional[Dict[str, Any]]) -> List[str]:
    out = []
    for key in KNOWN:
        entry = (results or {}).get(key)
        for field in ACC_FIELDS + ("wall_time_s",):
            name = "\\res" + camel(key) + camel(field.replace("_s", ""))
            if isinstance(entry, dict) and entry.get(field) is not None:
                value = (fmt_time if field == "wall_time_s" else fmt_acc)(entry[field], f"{key}.{field}")
            else:
                value = r"\emph{pending}"
            out.append(f"\\newcommand{{{name}}}{{{value}}}")
        epochs = entry.get("epochs") if isinstance(entry, dict) else None
        out.append(f"\\newcommand{{\\res{camel(key)}Epochs}}"
                   f"{{{epochs if isinstance(epochs, int) else chr(92) + 'emph{pending}'}}}")
    return out


def render(results: Optional[Dict[str, Any]]) -> str:
    lines = ["% Generated by writeup/make_results_table.py from results/results.json -- do not edit."]
    if results is None:
        lines += [r"\newcommand{\resultsStatus}{pending}",
                  r"\newcommand{\resultsMeta}{No results file yet.}",
                  r"\newcommand{\resultsTableBody}{%", PENDING_ROW, "}"]
        return "\n".join(lines + ablation_macros(None) + headline_macros(None)) + "\n"
    if not isinstance(results, dict):
        raise ValueError("results.json must hold a JSON object")
    meta = results.get("meta") or {}
    meta_text = "; ".join(f"{tex_escape(k)}: {tex_escape(v)}" for k, v in meta.items()
                          if not isinstance(v, dict))
    rows: List[str] = []
    keys = list(KNOWN) + [k for k in results
                          if k not in KNOWN and k not in OWN_TABLES and k != "meta"]
    for key in keys:
        rows += experiment_rows(key, results.get(key)) + [r"\addlinespace"]
    rows.pop()
    lines += [r"\newcommand{\resultsStatus}{available}",
              r"\newcommand{\resultsMeta}{%s}" % (meta_text or "---"),
              r"\newcommand{\resultsTableBody}{%"] + rows + ["}"]
    lines += ablation_macros(results.get("best_model_ablation"))
    return "\n".join(lines + headline_macros(results)) + "\n"


def ablation_macros(entry: Optional[Dict[str, Any]]) -> List[str]:
    """\\ablationTableBody and \\ablationSetup of the ablation entry: one scored on validation
    (ablation_macros_scored_on_validation) or an older one scored on the test set
    (ablation_macros_scored_on_test)."""
    if entry is None:
        return [r"\newcommand{\ablationSetup}{\emph{pending}}",
                r"\newcommand{\ablationTableBody}{\multicolumn{5}{@{}c@{}}{\emph{Ablation "
                r"pending: run \texttt{python experiments.py ablation}.}} \\}"]
    rows = entry.get("rows") if isinstance(entry, dict) else None
    if not isinstance(rows, dict) or "whole recipe" not in rows:
        raise ValueError("best_model_ablation.rows must hold a 'whole recipe' row")
    if "test_acc" in rows["whole recipe"]:
        return ablation_macros_scored_on_test(entry)
    return ablation_macros_scored_on_validation(entry)


def ablation_macros_scored_on_test(entry: Dict[str, Any]) -> List[str]:
    """An older ablation, one run a row scored on the test set: name & test accuracy & change
    against the whole recipe & training time, then one row per set of test-time views."""
    rows = entry["rows"]
    whole = rows["whole recipe"]["test_acc"]
    body = []
    for name, row in rows.items():
        where = f"best_model_ablation.rows.{name}"
        body.append(f"{tex_escape(name)} & {fmt_acc(row.get('test_acc'), where)} & "
                    f"{fmt_change(row['test_acc'] - whole)} & "
                    f"{fmt_time(row.get('wall_time_s'), where)} \\\\")
    for views, acc in rows["whole recipe"].get("tta", {}).items():
        body.append(f"whole recipe, test-time views \\texttt{{{tex_escape(views)}}} & "
                    f"{fmt_acc(acc, 'best_model_ablation.tta')} & {fmt_change(acc - whole)} & --- \\\\")
    settings = entry.get("settings", {})
    widths = "/".join(str(w) for w in settings.get("widths", ["?"]))
    setup = (f"{settings.get('num_epochs', '?')} epochs of {entry.get('num_training', 0):,} "
             f"training images at widths {widths}, tested on {entry.get('num_test', 0):,} images")
    return ([r"\newcommand{\ablationSetup}{%s}" % setup,
             r"\newcommand{\ablationTableBody}{%"] + body + ["}"])


def ablation_macros_scored_on_validation(entry: Dict[str, Any]) -> List[str]:
    """An ablation scored on validation, each row run with several seeds: name & mean validation
    accuracy & change against the whole recipe's mean & seed spread (max - min) & mean training
    time of a run, for the rows with a run done; then one row per set of test-time views of the
    whole recipe's runs; then, while runs are missing, a note saying how many are done."""
    rows = entry["rows"]
    whole = mean_of(rows["whole recipe"].get("runs") or [], "val_acc")
    body = []
    for name, row in rows.items():
        runs = row.get("runs") or []
        if runs:
            where = f"best_model_ablation.rows.{name}"
            body.append(seed_cells(tex_escape(name), [r["val_acc"] for r in runs], whole, where)
                        + f" & {fmt_time(mean_of(runs, 'wall_time_s'), where)} \\\\")
    whole_runs = rows["whole recipe"].get("runs") or []
    for views in (whole_runs[0].get("tta", {}) if whole_runs else {}):
        label = f"whole recipe, test-time views \\texttt{{{tex_escape(views)}}}"
        body.append(seed_cells(label, [r["tta"][views] for r in whole_runs], whole,
                               "best_model_ablation.tta") + " & --- \\\\")
    done, total = entry.get("runs_done", 0), entry.get("runs_total", 0)
    if not entry.get("complete"):
        body.append(r"\multicolumn{5}{@{}l}{\emph{%d of %d runs done}} \\" % (done, total))
    settings = entry.get("settings", {})
    widths = "/".join(str(w) for w in settings.get("widths", ["?"]))
    seeds = " and ".join(str(s) for s in entry.get("seeds", []))
    setup = (f"{settings.get('num_epochs', '?')} epochs of {entry.get('num_training', 0):,} "
             f"training images at widths {widths}, scored on {entry.get('num_validation', 0):,} "
             f"validation images, seeds {seeds}")
    return ([r"\newcommand{\ablationSetup}{%s}" % setup,
             r"\newcommand{\ablationTableBody}{%"] + body + ["}"])


def mean_of(runs: List[Dict[str, Any]], field: str) -> Optional[float]:
    """The mean of field over runs (None without runs)."""
    return sum(r[field] for r in runs) / len(runs) if runs else None


def seed_cells(label: str, accuracies: List[float], whole: Optional[float], where: str) -> str:
    """label & mean accuracy & change against whole & spread (max - min, in points; --- with
    one accuracy), without the row's end."""
    mean = sum(accuracies) / len(accuracies)
    change = "---" if whole is None else fmt_change(mean - whole)
    spread = f"{100 * (max(accuracies) - min(accuracies)):.1f}" if len(accuracies) > 1 else "---"
    return f"{label} & {fmt_acc(mean, where)} & {change} & {spread}"


def fmt_change(value: float) -> str:
    """A change of accuracy in percentage points, signed: +1.2, -0.3, 0.0."""
    return f"{100 * value:+.1f}".replace("+0.0", "0.0").replace("-0.0", "0.0")


def load(path: pathlib.Path) -> Optional[Dict[str, Any]]:
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=pathlib.Path, default=DEFAULT_JSON)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text = render(load(args.json))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
        args.out.write_text(text, encoding="utf-8")
    status = "pending (no results file)" if not args.json.exists() else f"from {args.json}"
    print(f"{args.out}: results {status}")


if __name__ == "__main__":
    main()
