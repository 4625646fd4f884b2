"""LR schedules at known iterations, checkpoint round trips, and Momentum + L2 update rules."""
import copy
import math

import numpy as np
import paddle
import pytest
import yaml

from ppcls.optimizer import build_lr_scheduler, build_optimizer
from ppcls.utils.errors import ConfigError


def _lrs(scheduler, count):
    """LR used at iterations 0..count-1 (stepping once per iteration)."""
    values = []
    for _ in range(count):
        values.append(scheduler())
        scheduler.step()
    return values


def test_cosine_with_warmup_known_values():
    cfg = {"name": "Cosine", "learning_rate": 0.2, "warmup_epoch": 2}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=10, step_each_epoch=4), 41)
    # W = 8 warm-up iterations from 0.0, T = 40; cosine over T - W = 32 iterations.
    assert lrs[0] == pytest.approx(0.0)
    assert lrs[2] == pytest.approx(0.05)
    assert lrs[4] == pytest.approx(0.1)
    assert lrs[8] == pytest.approx(0.2)
    assert lrs[16] == pytest.approx(0.1 * (1 + math.cos(math.pi / 4)))
    assert lrs[24] == pytest.approx(0.1)
    assert lrs[39] == pytest.approx(0.1 * (1 + math.cos(math.pi * 31 / 32)))
    assert lrs[40] == pytest.approx(0.0, abs=1e-12)


def test_cosine_eta_min_and_warmup_start():
    cfg = {"name": "Cosine", "learning_rate": 1.0, "eta_min": 0.2, "warmup_epoch": 1,
           "warmup_start_lr": 0.5}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=3, step_each_epoch=2), 7)
    assert lrs[0] == pytest.approx(0.5)
    assert lrs[1] == pytest.approx(0.75)
    assert lrs[2] == pytest.approx(1.0)
    assert lrs[4] == pytest.approx(0.6)  # half-way: 0.2 + 0.8 * (1 + cos(pi/2)) / 2
    assert lrs[6] == pytest.approx(0.2)
    assert lrs[5] == pytest.approx(0.2 + 0.4 * (1 + math.cos(3 * math.pi / 4)))


def test_piecewise_with_warmup_counts_decay_after_warmup():
    cfg = {"name": "Piecewise", "decay_epochs": [3, 6], "values": [0.1, 0.01, 0.001],
           "warmup_epoch": 1, "warmup_start_lr": 0.02}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=10, step_each_epoch=4), 40)
    assert lrs[0] == pytest.approx(0.02)
    assert lrs[2] == pytest.approx(0.06)
    assert lrs[4] == pytest.approx(0.1)
    # Boundaries 12 and 24 iterations after the 4 warm-up iterations.
    assert lrs[15] == pytest.approx(0.1)
    assert lrs[16] == pytest.approx(0.01)
    assert lrs[27] == pytest.approx(0.01)
    assert lrs[28] == pytest.approx(0.001)


def test_piecewise_without_warmup():
    cfg = {"name": "Piecewise", "decay_epochs": [1], "values": [0.3, 0.03]}
    assert _lrs(build_lr_scheduler(cfg, epochs=2, step_each_epoch=3), 6) == pytest.approx(
        [0.3, 0.3, 0.3, 0.03, 0.03, 0.03])


def test_step_with_warmup():
    cfg = {"name": "Step", "learning_rate": 0.1, "step_size": 2, "gamma": 0.5, "warmup_epoch": 1}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=10, step_each_epoch=3), 16)
    assert lrs[1] == pytest.approx(0.1 / 3)
    assert lrs[3] == pytest.approx(0.1)
    assert lrs[8] == pytest.approx(0.1)
    assert lrs[9] == pytest.approx(0.05)
    assert lrs[15] == pytest.approx(0.025)


def test_constant_lr_forms():
    for cfg in ({"learning_rate": 0.05}, 0.05, {"name": "Constant", "learning_rate": 0.05}):
        assert _lrs(build_lr_scheduler(cfg, epochs=2, step_each_epoch=2), 4) == pytest.approx([0.05] * 4)


@pytest.mark.parametrize("stop", [3, 13])  # mid-warm-up and mid-cosine
def test_state_dict_round_trip_restores_lr(stop):
    cfg = {"name": "Cosine", "learning_rate": 0.2, "warmup_epoch": 2}
    original = build_lr_scheduler(cfg, epochs=10, step_each_epoch=4)
    _lrs(original, stop)
    state = copy.deepcopy(original.state_dict())
    resumed = build_lr_scheduler(cfg, epochs=10, step_each_epoch=4)
    resumed.set_state_dict(state)
    assert resumed.last_epoch == stop
    assert _lrs(resumed, 5) == pytest.approx(_lrs(original, 5), abs=0)
    expected_at_stop = 0.2 * stop / 8 if stop < 8 else 0.1 * (1 + math.cos(math.pi * (stop - 8) / 32))
    resumed.set_state_dict(state)
    assert resumed() == pytest.approx(expected_at_stop)


def test_lr_config_errors():
    with pytest.raises(ConfigError, match="Cosine"):
        build_lr_scheduler({"name": "Cosin", "learning_rate": 0.1}, 1, 1)
    with pytest.raises(ConfigError, match="values"):
        build_lr_scheduler({"name": "Piecewise", "decay_epochs": [1, 2], "values": [0.1]}, 3, 1)
    with pytest.raises(ConfigError, match="warmup_epoch"):
        build_lr_scheduler({"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": -1}, 5, 2)
    with pytest.raises(ConfigError, match="learnig_rate"):
        build_lr_scheduler({"name": "Cosine", "learnig_rate": 0.1}, 5, 2)
    with pytest.raises(ConfigError, match="learning_rate"):
        build_lr_scheduler({"warmup_epoch": 1}, 5, 2)


def _param(values):
    init = paddle.nn.initializer.Assign(np.array(values, dtype="float32"))
    return paddle.create_parameter([len(values)], "float32", default_initializer=init)


def _run_steps(optimizer, scheduler, weight, coeffs, steps):
    for _ in range(steps):
        (weight * paddle.to_tensor(coeffs)).sum().backward()
        optimizer.step()
        optimizer.clear_grad()
        scheduler.step()
    return weight.numpy().astype("float64")


def _hand_momentum(w, g, lrs, mu, coeff, nesterov):
    """Paddle Momentum + L2Decay: g' = g + coeff*w; v = mu*v + g'; w -= lr*v (Nesterov: lr*(g' + mu*v))."""
    w, v = np.array(w, dtype="float64"), np.zeros(len(w))
    for lr in lrs:
        grad = np.array(g) + coeff * w
        v = mu * v + grad
        w = w - lr * ((grad + mu * v) if nesterov else v)
    return w


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_l2_matches_hand_formula(nesterov):
    config = {"name": "Momentum", "momentum": 0.9, "use_nesterov": nesterov,
              "lr": {"name": "Cosine", "learning_rate": 0.2},
              "regularizer": {"name": "L2", "coeff": 0.01}}
    frozen = copy.deepcopy(config)
    weight = _param([1.0, -2.0])
    optimizer, scheduler = build_optimizer(config, epochs=1, step_each_epoch=4, model=[weight])
    assert config == frozen
    assert isinstance(optimizer, paddle.optimizer.Momentum)
    got = _run_steps(optimizer, scheduler, weight, [3.0, 4.0], steps=2)
    lrs = [0.2, 0.1 * (1 + math.cos(math.pi / 4))]
    expected = _hand_momentum([1.0, -2.0], [3.0, 4.0], lrs, 0.9, 0.01, nesterov)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # First plain step by hand: w0 = 1 - 0.2 * (3 + 0.01 * 1) = 0.398.
    if not nesterov:
        w_first = 1.0 - 0.2 * 3.01
        v = 0.9 * 3.01 + 3.0 + 0.01 * w_first
        assert got[0] == pytest.approx(w_first - lrs[1] * v, rel=1e-5)


def test_sgd_and_adamw_build():
    weight = _param([1.0])
    sgd, sched = build_optimizer({"name": "SGD", "lr": 0.5}, 1, 1, [weight])
    got = _run_steps(sgd, sched, weight, [2.0], steps=1)
    assert got[0] == pytest.approx(1.0 - 0.5 * 2.0)
    weight = _param([1.0])
    adamw, sched = build_optimizer({"name": "AdamW", "lr": 0.1, "weight_decay": 0.5}, 1, 1, [weight])
    assert isinstance(adamw, paddle.optimizer.AdamW)
    got = _run_steps(adamw, sched, weight, [2.0], steps=1)
    # Decoupled decay then Adam's first step of size lr: 1 * (1 - 0.1 * 0.5) - 0.1.
    assert got[0] == pytest.approx(1.0 * (1 - 0.05) - 0.1, rel=1e-4)


def test_optimizer_config_errors():
    params = [_param([1.0])]
    with pytest.raises(ConfigError, match="Optimizer.name"):
        build_optimizer({"lr": 0.1}, 1, 1, params)
    with pytest.raises(ConfigError, match="Optimizer.lr"):
        build_optimizer({"name": "Momentum", "momentum": 0.9}, 1, 1, params)
    with pytest.raises(ConfigError, match="Momentum"):
        build_optimizer({"name": "Momentun", "lr": 0.1}, 1, 1, params)
    with pytest.raises(ConfigError, match="L2"):
        build_optimizer({"name": "Momentum", "momentum": 0.9, "lr": 0.1,
                         "regularizer": {"name": "L3", "coeff": 1e-4}}, 1, 1, params)
    with pytest.raises(ConfigError, match="Optimizer.momentun.*did you mean momentum"):
        build_optimizer({"name": "Momentum", "momentun": 0.9, "lr": 0.1}, 1, 1, params)


PADDLECLAS_YAML = """
Optimizer:
  name: Momentum
  momentum: 0.9
  use_nesterov: False
  lr:
    name: Cosine
    learning_rate: 0.2
    warmup_epoch: 5
    warmup_start_lr: 0.0
    eta_min: 0.0
  regularizer:
    name: 'L2'
    coeff: 3e-5
"""


def test_paddleclas_yaml_schema():
    config = yaml.safe_load(PADDLECLAS_YAML)["Optimizer"]
    assert config["regularizer"]["coeff"] == "3e-5"  # PyYAML reads this form as a string
    optimizer, scheduler = build_optimizer(config, epochs=100, step_each_epoch=10,
                                           model=[_param([1.0])])
    assert optimizer._momentum == pytest.approx(0.9)
    assert optimizer._regularization_coeff == pytest.approx(3e-5)
    lrs = _lrs(scheduler, 526)
    assert lrs[25] == pytest.approx(0.1)  # half of the 50 warm-up iterations
    assert lrs[525] == pytest.approx(0.1)  # half of the 950 cosine iterations (50 + 475)
