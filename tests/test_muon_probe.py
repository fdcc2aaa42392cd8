"""muon_probe.py: the orthogonalization and the Muon step it probes."""
import json
import os

import numpy as np
import pytest

import runs
from conftest import ROOT
from muon_probe import mixed_rule, muon, orthogonalize, orthogonalize_direct, probe


@pytest.mark.parametrize("shape", [(8, 40), (40, 8), (16, 16)])
def test_orthogonalize_brings_singular_values_near_one(shape):
    g = np.random.default_rng(0).standard_normal(shape)
    s = np.linalg.svd(orthogonalize(g), compute_uv=False)
    assert s.min() > 0.6 and s.max() < 1.25, s
    # The same singular vectors as g: orth(g) = U f(S) V^T with f increasing.
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    inner = u.T @ orthogonalize(g) @ vt.T
    np.testing.assert_allclose(inner, np.diag(np.diag(inner)), atol=1e-8)


def test_orthogonalize_ignores_scale_and_keeps_dtype():
    g = np.random.default_rng(1).standard_normal((6, 20)).astype(np.float32)
    np.testing.assert_allclose(orthogonalize(1e4 * g), orthogonalize(g), rtol=1e-4, atol=1e-5)
    assert orthogonalize(g).dtype == np.float32


def test_muon_step_renormalizes_and_moves_against_the_orthogonalized_momentum():
    rng = np.random.default_rng(2)
    theta = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    dtheta = rng.standard_normal(theta.shape).astype(np.float32)
    config = {"learning_rate": 0.1, "momentum": 0.5}
    nxt, config = muon(theta, dtheta, config)
    assert nxt.dtype == np.float32 and nxt.shape == theta.shape
    np.testing.assert_allclose(config["velocity"], dtheta)
    scaled = theta * np.sqrt(4) / np.linalg.norm(theta)
    u = (dtheta + 0.5 * dtheta).reshape(4, -1)
    expected = scaled - 0.1 * orthogonalize(u).reshape(theta.shape)
    np.testing.assert_allclose(nxt, expected, rtol=1e-5, atol=1e-6)


def test_mixed_rule_sends_only_marked_configs_to_muon():
    theta = np.ones((3, 2, 3, 3))
    dtheta = np.full(theta.shape, 0.5)
    plain, _ = mixed_rule(theta, dtheta, {"learning_rate": 0.1, "momentum": 0.0})
    np.testing.assert_allclose(plain, theta - 0.05)
    marked, _ = mixed_rule(theta, dtheta, {"learning_rate": 0.1, "momentum": 0.0, "muon": True})
    assert not np.allclose(marked, plain)


@pytest.mark.parametrize("shape", [(8, 40), (40, 8), (16, 16)])
def test_gram_iteration_equals_the_direct_one(shape):
    g = np.random.default_rng(3).standard_normal(shape)
    np.testing.assert_allclose(orthogonalize(g), orthogonalize_direct(g), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_quick_probe_trains_on_validation_and_records_the_run(cifar10, tmp_path, monkeypatch):
    monkeypatch.setenv(runs.QUICK_ENV, "1")
    record = tmp_path / "probe.jsonl"
    run = probe(epochs=1, muon_lr=0.06, muon_momentum=0.6, ns_steps=5, batch_size=None,
                seed=0, root=None, record=str(record))
    assert run["tag"] == "muon-lr0.06-mom0.6-ns5" and run["epochs"] == 1
    assert 0.2 < run["val_acc"] <= 1 and len(run["val_acc_history"]) == 2
    assert json.loads(record.read_text()) == run


def test_readme_quotes_every_run_of_the_committed_probe_record():
    with open(os.path.join(ROOT, "results", "muon-probe-3epochs.jsonl")) as f:
        probes = [json.loads(line) for line in f]
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = " ".join(f.read().split())
    assert len(probes) >= 2 and {p["epochs"] for p in probes} == {3}
    for p in probes:
        if p["tag"] == "baseline":
            assert f"the recipe as it is {p['val_acc']:.4f}" in readme
        else:
            lr = p["tag"].split("-")[1][len("lr"):]
            assert f"Muon lr {lr}: {p['val_acc']:.4f}" in readme, lr
    times = [t for p in probes if p["tag"] == "baseline" for t in p["epoch_times"]]
    assert f"epochs took {min(times):.0f}-{max(times):.0f} s for the recipe" in readme


@pytest.mark.parametrize("argv, named", [(["--epochs", "0"], "--epochs"),
                                         (["--muon-lr", "-0.1"], "--muon-lr"),
                                         (["--muon-lr", "inf"], "--muon-lr"),
                                         (["--muon-momentum", "1"], "--muon-momentum"),
                                         (["--ns-steps", "0"], "--ns-steps")])
def test_command_line_refuses_bad_settings_by_name(argv, named, capsys):
    from muon_probe import main
    with pytest.raises(SystemExit):
        main(argv)
    assert named in capsys.readouterr().err


def test_readme_quotes_the_full_budget_validation_run_of_muon_against_the_recipe():
    """The README's verdict on Muon quotes its 22-epoch validation-only run and the recipe's
    budget run: epochs, minutes, the first two epochs, the final accuracy with one view and
    with the recipe's views; no test accuracy exists for the Muon run."""

    def record(name):
        with open(os.path.join(ROOT, "results", name)) as f:
            return json.load(f)["best_model"]
    muon, recipe = record("muon-full-validation-amd.json"), record("best_model-budget-amd.json")
    tta = recipe["hyperparameters"]["tta"]
    assert "test_acc" not in muon and muon["hyperparameters"]["muon_lr"] == 0.12
    assert {k: v for k, v in muon["hyperparameters"].items()
            if not k.startswith("muon_") and k != "num_epochs"} == \
        {k: v for k, v in recipe["hyperparameters"].items() if k != "num_epochs"}
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = " ".join(f.read().split())
    quoted = [f"planned {muon['budget']['epochs']} epochs of about {muon['budget']['epoch_s']:.0f} s",
              f"trained them in {muon['wall_time_s'] / 60:.1f} min",
              f"({muon['val_acc_history'][1]:.4f} and {muon['val_acc_history'][2]:.4f} on "
              f"validation after epochs 1 and 2, against {recipe['val_acc_history'][1]:.4f} and "
              f"{recipe['val_acc_history'][2]:.4f} for the recipe)",
              f"it ended at {muon['val_acc']:.4f} with one view and "
              f"{muon['val_acc_views'][tta]:.4f} with the recipe's views, against "
              f"{recipe['val_acc']:.4f} and {recipe['val_acc_views'][tta]:.4f} for the recipe in "
              f"its {recipe['epochs']} epochs"]
    missing = [q for q in quoted if q not in readme]
    assert not missing, missing
    # "not adopted": within a seed's spread with one view, behind with the views
    assert abs(muon["val_acc"] - recipe["val_acc"]) < 0.003
    assert muon["val_acc_views"][tta] < recipe["val_acc_views"][tta]
