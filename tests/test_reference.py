"""reference.py: the curves of our best-model records and of airbench94's, side by side."""
import json

import numpy as np
import pytest

import reference


def write(tmp_path, name, record):
    path = tmp_path / name
    path.write_text(json.dumps(record))
    return str(path)


def ours_record(num_val=5000):
    return {"best_model": {"val_acc_history": [0.1, 0.6, 0.8], "epoch_times_s": [60.0, 90.0],
                           "data_sizes": {"num_validation": num_val},
                           "hyperparameters": {"widths": [64, 256, 256]}}}


def reference_record(num_val=5000):
    return {"args": {"val": num_val, "epochs": 9.9},
            "per_epoch": [{"epoch": 1, "seconds": 30.0, "val_acc": 0.7},
                          {"epoch": 9.9, "seconds": 45.0, "val_acc": 0.85}]}


def test_ours_curve_starts_at_the_check_before_training(tmp_path):
    epochs, minutes, val, num_val, label = reference.ours_curve(
        write(tmp_path, "ours.json", ours_record()))
    assert epochs.tolist() == [0, 1, 2] and np.allclose(minutes, [0, 1, 2.5])
    assert val.tolist() == [0.1, 0.6, 0.8] and num_val == 5000
    assert label == "ours, NumPy (2 epochs, widths (64, 256, 256))"


def test_an_entry_without_the_file_around_it_reads_the_same(tmp_path):
    whole = reference.ours_curve(write(tmp_path, "a.json", ours_record()))
    entry = reference.ours_curve(write(tmp_path, "b.json", ours_record()["best_model"]))
    assert all(np.array_equal(a, b) for a, b in zip(whole[:3], entry[:3]))


def test_reference_curve_keeps_the_fractional_last_epoch(tmp_path):
    epochs, minutes, val, num_val, label = reference.reference_curve(
        write(tmp_path, "ref.json", reference_record()))
    assert epochs.tolist() == [1, 9.9] and np.allclose(minutes, [0.5, 1.25])
    assert num_val == 5000 and "9.9 epochs" in label


def test_bad_records_are_refused_by_name(tmp_path):
    ref = write(tmp_path, "ref.json", reference_record())
    with pytest.raises(ValueError, match="not a best-model record"):
        reference.ours_curve(ref)
    broken = ours_record()
    broken["best_model"]["epoch_times_s"] = [60.0]
    with pytest.raises(ValueError, match="holds 3 validation accuracies for 1 epoch times"):
        reference.ours_curve(write(tmp_path, "broken.json", broken))
    with pytest.raises(ValueError, match="no per-epoch validation accuracy"):
        reference.reference_curve(write(tmp_path, "ours.json", ours_record()))


def test_curves_of_different_validation_sets_are_refused(tmp_path):
    curves = [reference.ours_curve(write(tmp_path, "ours.json", ours_record(1000))),
              reference.reference_curve(write(tmp_path, "ref.json", reference_record()))]
    with pytest.raises(ValueError, match="different validation sets"):
        reference.check_same_validation(curves)
    reference.check_same_validation(curves[1:])


def test_first_epoch_reaching_an_accuracy(tmp_path):
    curve = reference.ours_curve(write(tmp_path, "ours.json", ours_record()))
    assert reference.first_epoch_reaching(curve, 0.6) == (1.0, 1.0)
    assert reference.first_epoch_reaching(curve, 0.75) == (2.0, 2.5)
    assert reference.first_epoch_reaching(curve, 0.9) is None


def test_the_table_and_the_figure_hold_every_curve(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    curves = [reference.ours_curve(write(tmp_path, "ours.json", ours_record())),
              reference.reference_curve(write(tmp_path, "ref.json", reference_record()))]
    rows = [line.split() for line in reference.curve_table(curves) if line.startswith("  ")]
    assert ["2", "2.5", "0.8000"] in rows and ["9.9", "1.2", "0.8500"] in rows
    fig = reference.plot_curves(curves)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]


def test_a_solver_run_makes_the_same_curve_as_its_record(tmp_path):
    entry = ours_record()["best_model"]
    recorded = reference.ours_curve(write(tmp_path, "ours.json", entry))
    direct = reference.run_curve(entry["val_acc_history"], entry["epoch_times_s"], 5000, "x")
    assert all(np.array_equal(a, b) for a, b in zip(recorded[:4], direct[:4]))


def test_the_summary_says_where_a_curve_ends_and_first_reaches_an_accuracy(tmp_path):
    curve = reference.ours_curve(write(tmp_path, "ours.json", ours_record()))
    assert reference.summary(curve, 0.75) == (
        "ours, NumPy (2 epochs, widths (64, 256, 256)): 0.8000 after epoch 2 (2.5 min); "
        "0.75 first reached at epoch 2 (2.5 min)")
    assert reference.summary(curve).endswith("0.90 never reached")
