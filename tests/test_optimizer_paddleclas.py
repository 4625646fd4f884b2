"""PaddleClas 2.6's optimizer and schedule vocabulary.

Schedules: LR values at known steps from the formulas written out here. Optimizers: one or two
steps on a tiny Linear + BatchNorm1D model compared with NumPy updates written in this file
(gradients are read from the parameters, so only the update rule is under test), including which
parameters get no weight decay. Shared configs: each ``Optimizer`` section of
``$PPCLS_REFERENCE_DATA/paddleclas_configs`` builds with its class and hyper-parameters.
"""
import logging
import math

import numpy as np
import paddle
import pytest
import yaml

from ppcls.optimizer import build_lr_scheduler, build_optimizer
from ppcls.utils.errors import ConfigError
from tests.conftest import REFERENCE_DATA, reference_skip_reason
from tests.test_optimizer_lr import _lrs

SHARED_CONFIGS = REFERENCE_DATA / "paddleclas_configs"
CONFIG_FILES = sorted(SHARED_CONFIGS.glob("**/*.yaml")) if SHARED_CONFIGS.is_dir() else []


@pytest.fixture
def warnings_log():
    """Messages of the warnings sent to the ``ppcls`` logger."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("ppcls")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


# ----------------------------------------------------------------------------------------- schedules


def test_cosine_by_epoch_changes_only_at_epoch_boundaries():
    cfg = {"name": "Cosine", "learning_rate": 0.4, "eta_min": 0.05, "warmup_epoch": 2,
           "warmup_start_lr": 0.1, "by_epoch": True}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=6, step_each_epoch=3), 18)
    # epoch e: warm-up 0.1 -> 0.4 over 2 epochs, then cosine over T = 6 - 2 = 4 epochs.
    per_epoch = [0.1, 0.25, 0.4,
                 0.05 + 0.35 * (1 + math.cos(math.pi / 4)) / 2,
                 0.05 + 0.35 * (1 + math.cos(math.pi / 2)) / 2,
                 0.05 + 0.35 * (1 + math.cos(3 * math.pi / 4)) / 2]
    assert lrs == pytest.approx([lr for lr in per_epoch for _ in range(3)])


def test_warmup_longer_than_training_warns_and_clamps(warnings_log):
    cfg = {"name": "Cosine", "learning_rate": 0.2, "warmup_epoch": 5}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=2, step_each_epoch=4), 10)
    # Warm-up cut to 2 epochs = 8 updates; no decay steps remain, the LR then stays at 0.2.
    assert lrs == pytest.approx([0.2 * i / 8 for i in range(8)] + [0.2, 0.2])
    assert any("warmup_epoch" in message and "PaddleClas" in message for message in warnings_log)


def test_warmup_equal_to_epochs_also_warns(warnings_log):
    build_lr_scheduler({"name": "Step", "learning_rate": 0.1, "step_size": 1, "gamma": 0.5,
                        "warmup_epoch": 3}, epochs=3, step_each_epoch=2)
    assert len(warnings_log) == 1


def test_piecewise_learning_rate_follows_paddleclas_rule(warnings_log):
    cfg = {"name": "Piecewise", "learning_rate": 0.1, "decay_epochs": [5], "values": [1.0, 2.0]}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=100, step_each_epoch=2), 200)
    # Tenfold decay every 30 epochs = 60 updates; decay_epochs and values are replaced.
    assert lrs[0] == lrs[59] == pytest.approx(0.1)
    assert lrs[60] == lrs[119] == pytest.approx(0.01)
    assert lrs[120] == pytest.approx(0.001)
    assert lrs[180] == lrs[199] == pytest.approx(0.0001)
    assert any("30 epochs" in message for message in warnings_log)


def test_piecewise_learning_rate_short_run_is_constant():
    cfg = {"name": "Piecewise", "learning_rate": 0.1, "decay_epochs": [30, 60, 90],
           "values": [0.1, 0.01, 0.001, 0.0001]}
    assert _lrs(build_lr_scheduler(cfg, epochs=30, step_each_epoch=2), 60) == pytest.approx([0.1] * 60)


def test_piecewise_fractional_boundary_is_not_rounded():
    cfg = {"name": "Piecewise", "decay_epochs": [1.5], "values": [0.3, 0.03]}
    # Boundary at 1.5 * 3 = 4.5 updates: update 4 still uses 0.3, update 5 uses 0.03.
    assert _lrs(build_lr_scheduler(cfg, epochs=3, step_each_epoch=3), 7) == pytest.approx(
        [0.3] * 5 + [0.03] * 2)


def test_piecewise_by_epoch_with_warmup():
    cfg = {"name": "Piecewise", "decay_epochs": [2], "values": [0.2, 0.02], "warmup_epoch": 1,
           "by_epoch": True}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=5, step_each_epoch=2), 10)
    # epoch 0 warms up (LR 0.0), epochs 1-2 use 0.2, the boundary counts 2 epochs after warm-up.
    assert lrs == pytest.approx([0.0, 0.0, 0.2, 0.2, 0.2, 0.2, 0.02, 0.02, 0.02, 0.02])


def test_step_fractional_step_size_tinynet_style():
    cfg = {"name": "Step", "learning_rate": 0.048, "step_size": 2.4, "gamma": 0.97, "warmup_epoch": 3,
           "warmup_start_lr": "1e-6"}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=450, step_each_epoch=5), 40)
    # 15 warm-up updates, then a decay every int(2.4 * 5) = 12 updates.
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[5] == pytest.approx(1e-6 + (0.048 - 1e-6) * 5 / 15)
    assert lrs[15] == lrs[26] == pytest.approx(0.048)
    assert lrs[27] == lrs[38] == pytest.approx(0.048 * 0.97)
    assert lrs[39] == pytest.approx(0.048 * 0.97 ** 2)


def test_step_by_epoch():
    cfg = {"name": "Step", "learning_rate": 0.8, "step_size": 2, "gamma": 0.5, "by_epoch": True}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=6, step_each_epoch=3), 15)
    assert lrs == pytest.approx([0.8] * 6 + [0.4] * 6 + [0.2] * 3)


def test_multistep_decay_default_gamma_and_warmup():
    cfg = {"name": "MultiStepDecay", "learning_rate": 1.0, "milestones": [2, 4], "warmup_epoch": 1}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=8, step_each_epoch=3), 20)
    # 3 warm-up updates, then milestones 6 and 12 updates later; gamma defaults to 0.1.
    assert lrs[:3] == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert lrs[3] == lrs[8] == pytest.approx(1.0)
    assert lrs[9] == lrs[14] == pytest.approx(0.1)
    assert lrs[15] == lrs[19] == pytest.approx(0.01)


def test_linear_polynomial_decay_holds_end_lr():
    cfg = {"name": "Linear", "learning_rate": 1.0, "end_lr": 0.2, "power": 2}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=4, step_each_epoch=5), 26)
    expected = [0.8 * (1 - min(t, 20) / 20) ** 2 + 0.2 for t in range(26)]
    assert lrs == pytest.approx(expected)
    assert lrs[10] == pytest.approx(0.4)


def test_linear_cycle_extends_the_horizon():
    cfg = {"name": "Linear", "learning_rate": 1.0, "cycle": True}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=2, step_each_epoch=2), 8)
    # T = 4: horizon 4 up to step 4, then 8 (the next multiple of T).
    assert lrs == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0, 1 - 5 / 8, 1 - 6 / 8, 1 - 7 / 8])


def test_linear_by_epoch_counts_warmup_in_epochs():
    cfg = {"name": "Linear", "learning_rate": 1.0, "warmup_epoch": 1, "by_epoch": True}
    lrs = _lrs(build_lr_scheduler(cfg, epochs=5, step_each_epoch=2), 10)
    assert lrs == pytest.approx([0.0, 0.0, 1.0, 1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25])


@pytest.mark.parametrize("name", ["Constant", "ConstLR"])
def test_constant_with_warmup(name):
    cfg = {"name": name, "learning_rate": 0.3, "warmup_epoch": 1, "warmup_start_lr": 0.1}
    assert _lrs(build_lr_scheduler(cfg, epochs=3, step_each_epoch=2), 5) == pytest.approx(
        [0.1, 0.2, 0.3, 0.3, 0.3])


def test_by_epoch_state_dict_round_trip():
    cfg = {"name": "Cosine", "learning_rate": 0.4, "warmup_epoch": 1, "by_epoch": True}
    original = build_lr_scheduler(cfg, epochs=5, step_each_epoch=3)
    _lrs(original, 7)  # stop inside epoch 2
    resumed = build_lr_scheduler(cfg, epochs=5, step_each_epoch=3)
    resumed.set_state_dict(original.state_dict())
    assert _lrs(resumed, 8) == _lrs(original, 8)
    resumed.last_epoch = 7
    assert resumed.get_lr() == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))  # epoch 2: 1 of 4 decayed


@pytest.mark.parametrize("update_freq, boundary", [(1, 10), (3, 3), (20, 1)])
def test_update_freq_divides_the_updates_per_epoch(update_freq, boundary):
    config = {"name": "SGD", "lr": {"name": "Piecewise", "decay_epochs": [1], "values": [0.1, 0.01]}}
    _, scheduler = build_optimizer(config, 3, 10, _tiny_model(), update_freq=update_freq)
    lrs = _lrs(scheduler, boundary + 1)
    assert lrs[boundary - 1] == pytest.approx(0.1)
    assert lrs[boundary] == pytest.approx(0.01)


# ---------------------------------------------------------------------------------------- optimizers

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.8, 1.1], [0.9, -1.4, 0.4]], dtype="float32")
TARGET = np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 1.0], [2.0, -0.5]], dtype="float32")
INITIAL = {"0.weight": [[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]], "0.bias": [0.1, -0.2],
           "1.weight": [1.2, 0.7], "1.bias": [0.3, -0.4]}


def _tiny_model():
    """Linear(3, 2) + BatchNorm1D(2): one 2-D weight and three 1-D parameters, fixed values."""
    model = paddle.nn.Sequential(paddle.nn.Linear(3, 2), paddle.nn.BatchNorm1D(2))
    for name, param in model.named_parameters():
        if name in INITIAL:
            param.set_value(np.array(INITIAL[name], dtype="float32"))
    return model


def _values(model, tensor_of):
    """``{name: float64 array}`` of ``tensor_of(parameter)`` for the trained parameters."""
    return {n: tensor_of(p).numpy().astype("float64") for n, p in model.named_parameters() if n in INITIAL}


def _train(config, steps, **kwargs):
    """Run ``steps`` updates; return the weights before each update, the gradients and the final weights."""
    model = _tiny_model()
    optimizer, _ = build_optimizer(config, 10, 10, model, **kwargs)
    weights, grads = [], []
    for _ in range(steps):
        loss = (model(paddle.to_tensor(X)) * paddle.to_tensor(TARGET)).sum()
        loss.backward()
        weights.append(_values(model, lambda p: p))
        grads.append(_values(model, lambda p: p.grad))
        optimizer.step()
        optimizer.clear_grad()
    final = _values(model, lambda p: p)
    return weights, grads, final, optimizer


def _decay_grad(w, kind, coeff):
    return coeff * np.sign(w) if kind == "L1" else coeff * w


def _assert_close(final, expected):
    for name in INITIAL:
        np.testing.assert_allclose(final[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("kind", ["L1", "L2"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_no_weight_decay_name(kind, nesterov):
    config = {"name": "Momentum", "momentum": 0.9, "use_nesterov": nesterov, "lr": {"learning_rate": 0.1},
              "no_weight_decay_name": ".bias", "regularizer": {"name": kind, "coeff": 0.5}}
    weights, grads, final, optimizer = _train(config, 2)
    assert optimizer._multi_precision is True  # PaddleClas's Momentum default
    decayed = {"0.weight", "1.weight"}  # the BatchNorm scale is 1-D but its name has no ".bias"
    expected = {}
    for name in INITIAL:
        v = np.zeros_like(weights[0][name])
        for w, g in zip(weights, grads):
            g = g[name] + (_decay_grad(w[name], kind, 0.5) if name in decayed else 0.0)
            v = 0.9 * v + g
            expected[name] = w[name] - 0.1 * ((g + 0.9 * v) if nesterov else v)
    _assert_close(final, expected)


def test_momentum_one_dim_alone_exempts_biases_and_batchnorm():
    """PaddleClas 2.6 ignores ``one_dim_param_no_weight_decay`` without ``no_weight_decay_name``; fixed."""
    config = {"name": "Momentum", "momentum": 0.9, "lr": 0.1, "weight_decay": 0.5,
              "one_dim_param_no_weight_decay": True}
    weights, grads, final, _ = _train(config, 1)
    w, g = weights[0], grads[0]
    expected = {name: w[name] - 0.1 * g[name] for name in INITIAL}
    expected["0.weight"] = w["0.weight"] - 0.1 * (g["0.weight"] + 0.5 * w["0.weight"])
    _assert_close(final, expected)


def test_regularizer_wins_over_weight_decay(warnings_log):
    config = {"name": "Momentum", "momentum": 0.0, "lr": 0.1, "weight_decay": 5.0,
              "regularizer": {"name": "L2", "coeff": 0.5}}
    weights, grads, final, _ = _train(config, 1)
    w, g = weights[0], grads[0]
    _assert_close(final, {n: w[n] - 0.1 * (g[n] + 0.5 * w[n]) for n in INITIAL})
    assert any("weight_decay is ignored" in message for message in warnings_log)


def _adam_reference(weights, grads, lr, beta1, beta2, eps, decoupled, decayed):
    """Adam with bias correction; AdamW shrinks ``w`` by ``1 - lr * decoupled`` before each step."""
    expected = {}
    for name in INITIAL:
        m = v = np.zeros_like(weights[0][name])
        for t, (w, g) in enumerate(zip(weights, grads), start=1):
            m = beta1 * m + (1 - beta1) * g[name]
            v = beta2 * v + (1 - beta2) * g[name] ** 2
            shrink = 1 - lr * decoupled if name in decayed else 1.0
            step = lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
            expected[name] = w[name] * shrink - step
    return expected


@pytest.mark.parametrize("options, decayed", [
    ({}, set(INITIAL)),
    ({"no_weight_decay_name": ".bias"}, {"0.weight", "1.weight"}),
    ({"no_weight_decay_name": "1. 0.bias"}, {"0.weight"}),
    ({"one_dim_param_no_weight_decay": True}, {"0.weight"})])
def test_adamw_no_weight_decay(options, decayed):
    config = {"name": "AdamW", "beta1": 0.8, "beta2": 0.9, "epsilon": "1e-8", "weight_decay": 0.5,
              "lr": {"learning_rate": 0.1}, **options}
    weights, grads, final, _ = _train(config, 2)
    _assert_close(final, _adam_reference(weights, grads, 0.1, 0.8, 0.9, 1e-8, 0.5, decayed))


def test_adamw_default_weight_decay():
    weights, grads, final, _ = _train({"name": "AdamW", "lr": 0.1}, 1)
    _assert_close(final, _adam_reference(weights, grads, 0.1, 0.9, 0.999, 1e-8, 0.01, set(INITIAL)))


def test_adamw_clip_grad_clips_the_global_norm():
    config = {"name": "AdamW", "epsilon": 1.0, "weight_decay": 0.0, "lr": 0.1, "clip_grad": 0.5}
    weights, grads, final, _ = _train(config, 1)
    norm = math.sqrt(sum((g ** 2).sum() for g in grads[0].values()))
    assert norm > 0.5
    clipped = [{n: g * 0.5 / norm for n, g in grads[0].items()}]
    _assert_close(final, _adam_reference(weights, clipped, 0.1, 0.9, 0.999, 1.0, 0.0, set()))


def test_adam_couples_l2_into_the_gradient():
    config = {"name": "Adam", "epsilon": 0.5, "lr": 0.1, "regularizer": {"name": "L2", "coeff": 0.3}}
    weights, grads, final, _ = _train(config, 1)
    coupled = [{n: g + 0.3 * weights[0][n] for n, g in grads[0].items()}]
    _assert_close(final, _adam_reference(weights, coupled, 0.1, 0.9, 0.999, 0.5, 0.0, set()))


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_tinynet_style(centered):
    config = {"name": "RMSProp", "momentum": 0.9, "rho": 0.9, "epsilon": 0.001, "centered": centered,
              "one_dim_param_no_weight_decay": True, "lr": 0.05,
              "regularizer": {"name": "L2", "coeff": "0.5"}}
    weights, grads, final, _ = _train(config, 2)
    expected = {}
    for name in INITIAL:
        r = mean = v = np.zeros_like(weights[0][name])
        for w, g in zip(weights, grads):
            g = g[name] + (0.5 * w[name] if name == "0.weight" else 0.0)
            r = 0.9 * r + 0.1 * g ** 2
            mean = 0.9 * mean + 0.1 * g
            v = 0.9 * v + 0.05 * g / np.sqrt(r - (mean ** 2 if centered else 0.0) + 0.001)
            expected[name] = w[name] - v
    _assert_close(final, expected)


@pytest.mark.parametrize("kind", ["L1", "L2"])
def test_sgd_clip_norm_then_regularizer(kind):
    config = {"name": "SGD", "lr": 0.1, "clip_norm": 0.3, "regularizer": {"name": kind, "coeff": 0.2}}
    weights, grads, final, _ = _train(config, 1)
    w, g = weights[0], grads[0]
    expected = {}
    for name in INITIAL:
        norm = np.sqrt((g[name] ** 2).sum())
        clipped = g[name] * min(1.0, 0.3 / norm)
        expected[name] = w[name] - 0.1 * (clipped + _decay_grad(w[name], kind, 0.2))
    assert any(np.sqrt((g[n] ** 2).sum()) > 0.3 for n in INITIAL)
    _assert_close(final, expected)


def test_regularizer_none_means_no_decay():
    config = {"name": "Momentum", "momentum": 0.0, "lr": 0.1, "regularizer": None}
    weights, grads, final, _ = _train(config, 1)
    _assert_close(final, {n: weights[0][n] - 0.1 * grads[0][n] for n in INITIAL})


def test_one_entry_list_form():
    config = [{"Momentum": {"scope": "all", "momentum": 0.5, "lr": 0.1}}]
    weights, grads, final, optimizer = _train(config, 1)
    assert isinstance(optimizer, paddle.optimizer.Momentum)
    _assert_close(final, {n: weights[0][n] - 0.1 * grads[0][n] for n in INITIAL})


# ---------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("config, message", [
    ({"name": "AdamW", "lr": 0.1, "no_weight_decay_nam": "norm"},
     "Optimizer.no_weight_decay_nam.*no_weight_decay_name"),
    ({"name": "AdamW", "lr": 0.1, "no_weight_decay_name": ["norm"]}, "Optimizer.no_weight_decay_name"),
    ({"name": "Momentum", "lr": 0.1, "momentum": "fast"}, "Optimizer.momentum must be a number"),
    ({"name": "Momentum", "lr": 0.1}, "Optimizer.momentum is required"),
    ({"name": "SGD", "lr": 0.1, "grad_clip": 1.0}, "Optimizer.grad_clip"),
    ({"name": "RMSProp", "lr": 0.1, "regularizer": {"name": "L2", "coef": 1e-4}},
     "Optimizer.regularizer.coef"),
    ({"name": "AdamW", "lr": 0.1, "regularizer": {"name": "L2", "coeff": 1e-4}}, "Optimizer.regularizer"),
    ({"name": "AdamW", "lr": 0.1, "clip_norm": 1.0, "clip_grad": 1.0}, "clip_norm.*clip_grad"),
    ({"name": "SGD", "lr": {"name": "Cosine", "learning_rate": 0.1, "eta_mn": 0}},
     "Optimizer.lr.eta_mn.*eta_min"),
    ({"name": "SGD", "lr": {"name": "Step", "learning_rate": 0.1, "gamma": 0.5}},
     "Optimizer.lr.step_size is required"),
    ({"name": "SGD", "lr": {"name": "MultiStepDecay", "learning_rate": 0.1, "milestones": [4, 2]}},
     "Optimizer.lr.milestones must be increasing"),
    ({"name": "SGD", "lr": {"name": "Piecewise", "decay_epochs": [1], "values": [0.1]}},
     "Optimizer.lr.values"),
    ({"name": "SGD", "lr": {"name": "Cosine", "learning_rate": "fast"}}, "Optimizer.lr.learning_rate"),
    ({"name": "SGD", "lr": {"name": "ReduceOnPlateau", "learning_rate": 0.1}},
     "unknown lr 'ReduceOnPlateau'"),
    ([{"SGD": {"scope": "all", "lr": 0.1}}, {"Momentum": {"scope": "CenterLoss", "lr": 0.1}}],
     "not supported"),
    ([{"SGD": {"scope": "backbone", "lr": 0.1}}], "not supported: Optimizer scope 'backbone'"),
])
def test_bad_config_names_the_key(config, message):
    with pytest.raises(ConfigError, match=message):
        build_optimizer(config, 10, 10, _tiny_model())


def test_bad_update_freq():
    with pytest.raises(ConfigError, match="Global.update_freq"):
        build_optimizer({"name": "SGD", "lr": 0.1}, 10, 10, _tiny_model(), update_freq=0)


# ------------------------------------------------------------------------------------ shared configs

OPTIMIZER_CLASSES = {"Momentum": paddle.optimizer.Momentum, "AdamW": paddle.optimizer.AdamW,
                     "RMSProp": paddle.optimizer.RMSProp}


@pytest.mark.parametrize("path", CONFIG_FILES or [None], ids=lambda p: p.stem if p else "absent")
def test_shared_paddleclas_config_builds(path):
    if path is None:
        pytest.skip(reference_skip_reason(SHARED_CONFIGS))
    config = yaml.safe_load(path.read_text())
    section, epochs = config["Optimizer"], config["Global"]["epochs"]
    update_freq = config["Global"].get("update_freq", 1)
    optimizer, scheduler = build_optimizer(section, epochs, 40, _tiny_model(), update_freq=update_freq)
    assert type(optimizer) is OPTIMIZER_CLASSES[section["name"]]
    for key, attribute in (("momentum", "_momentum"), ("rho", "_rho"), ("beta1", "_beta1"),
                           ("beta2", "_beta2"), ("epsilon", "_epsilon"), ("weight_decay", "_weight_decay")):
        if key in section:
            assert getattr(optimizer, attribute) == pytest.approx(float(section[key])), key
    if "regularizer" in section:
        coeff = float(section["regularizer"]["coeff"])
        if isinstance(optimizer, paddle.optimizer.Momentum):  # L2 is fused into Momentum's update
            assert optimizer._regularization_coeff == pytest.approx(coeff)
        else:
            assert optimizer.regularization._coeff == pytest.approx(coeff)
    lr = section["lr"]
    warmup_updates = round(lr.get("warmup_epoch", 0) * (40 // update_freq))
    assert scheduler() == pytest.approx(float(lr.get("warmup_start_lr", 0.0)) if warmup_updates
                                        else float(lr["learning_rate"]))
    scheduler.last_epoch = warmup_updates
    assert scheduler.get_lr() == pytest.approx(float(lr["learning_rate"]))
