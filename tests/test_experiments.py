"""experiments.py on the real CIFAR-10 copy: the main job's model learns."""
import pytest

from experiments import TWO_LAYER, main, train_two_layer


@pytest.mark.slow
def test_two_layer_net_reaches_45_percent_validation_in_three_epochs(cifar10):
    settings = {**TWO_LAYER, "num_epochs": 3}
    solver = train_two_layer(cifar10, **settings, verbose=False)
    assert solver.best_val_acc >= 0.45
    assert solver.check_accuracy(cifar10["X_val"], cifar10["y_val"]) == solver.best_val_acc


def test_unknown_experiment_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["three-layer"])
    assert "invalid choice" in capsys.readouterr().err
