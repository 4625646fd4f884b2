"""Training features of PaddleClas configs, in process on tiny colour-coded images:
``Global.update_freq``, ``EMA``, ``Global.to_static``, ``Global.use_dali``."""
import logging

import numpy as np
import paddle
import pytest

from ppcls.arch import build_model
from ppcls.data import build_dataloader
from ppcls.engine import Trainer, evaluate
from ppcls.engine.dali import dali_installed
from ppcls.metric import build_metrics
from ppcls.utils.errors import ConfigError
from ppcls.utils.weights import load_weights
from tests.engine_helpers import tiny_config, weights, write_images


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """32 training images, 16 evaluation images, and 32 training images with shifted labels."""
    folder = tmp_path_factory.mktemp("colours")
    return {"train": write_images(folder, 32, seed=1), "eval": write_images(folder, 16, seed=2),
            "wrong": write_images(folder, 32, seed=1, label_shift=1)}


@pytest.fixture
def records():
    """Warnings of the 'ppcls' logger."""
    class ListHandler(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    log, handler = logging.getLogger("ppcls"), ListHandler()
    log.addHandler(handler)
    yield handler.messages
    log.removeHandler(handler)


def max_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def trained(config):
    """A Trainer run to its end, its parameters and optimizer state named as in a new process
    (linear_0.w_0_velocity_0, ...): a checkpoint's optimizer state is keyed by those names."""
    with paddle.utils.unique_name.guard():
        trainer = Trainer(config)
        trainer.run()
    return trainer


def cosine_config(tmp_path, data, batch_size, **global_keys):
    config = tiny_config(tmp_path, data["train"], batch_size=batch_size, epochs=2, **global_keys)
    config["Optimizer"].update(lr={"name": "Cosine", "learning_rate": 0.1, "warmup_epoch": 1},
                               regularizer={"name": "L2", "coeff": 0.001})
    return config


def test_update_freq_2_with_batch_8_equals_batch_16(tmp_path, data):
    accumulated = trained(cosine_config(tmp_path / "a", data, 8, update_freq=2))
    large = trained(cosine_config(tmp_path / "b", data, 16))
    small = trained(cosine_config(tmp_path / "c", data, 8))
    # 32 images: 4 batches of 8 make 2 optimizer steps per epoch, as 2 batches of 16 do
    assert accumulated.state.global_step == large.state.global_step == 4
    assert accumulated.lr.last_epoch == large.lr.last_epoch == 4
    assert max_difference(weights(accumulated.model), weights(large.model)) < 1e-6
    # without accumulation the same batches of 8 make 8 steps and other weights
    assert small.state.global_step == 8
    assert max_difference(weights(small.model), weights(large.model)) > 1e-3


def test_update_freq_leaves_out_an_incomplete_group(tmp_path, data):
    config = tiny_config(tmp_path, data["train"], batch_size=6, update_freq=2)
    trainer = Trainer(config)
    assert len(trainer.train_loader) == 6
    trainer.run()
    assert trainer.state.global_step == 3 and trainer.lr.last_epoch == 3
    config = tiny_config(tmp_path, data["train"], batch_size=10, update_freq=3)
    trainer = Trainer(config)  # 4 batches: 3 of them make the epoch's one step, the 4th is left out
    trainer.run()
    assert trainer.state.global_step == 1


def test_update_freq_above_the_epoch_becomes_1(tmp_path, data, records):
    trainer = Trainer(tiny_config(tmp_path, data["train"], batch_size=16, update_freq=3))
    assert trainer.update_freq == 1
    assert records == ["Global.update_freq (3) is larger than the 2 batches of an epoch: set to 1"]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_update_freq_must_be_a_positive_integer(tmp_path, data, value):
    with pytest.raises(ConfigError, match="Global.update_freq must be a positive integer"):
        Trainer(tiny_config(tmp_path, data["train"], update_freq=value))


@pytest.mark.parametrize("update_freq", [1, 2])
def test_ema_follows_the_recurrence_after_each_optimizer_step(tmp_path, data, update_freq):
    decay = 0.75
    config = tiny_config(tmp_path, data["train"], update_freq=update_freq)
    config["EMA"] = {"decay": decay}
    trainer = Trainer(config)
    trainer.model.train()
    expected = weights(trainer.model)
    for step, (images, labels) in enumerate(trainer.train_loader):
        trainer.train_step(images, labels, 1, step)
        if (step + 1) % update_freq == 0:
            current = weights(trainer.model)
            expected = {k: decay * expected[k] + (1 - decay) * current[k] for k in current}
    assert trainer.state.global_step == 4 // update_freq
    assert max_difference(weights(trainer.ema.state_dict()), expected) < 1e-6
    assert max_difference(weights(trainer.ema.state_dict()), weights(trainer.model)) > 1e-3


def evaluate_file(config, path):
    """top-1 of the weights file ``path`` on ``DataLoader.Eval``."""
    model = build_model(config["Arch"])
    load_weights(model, str(path))
    loader = build_dataloader(config["DataLoader"], "Eval")
    return evaluate(model, loader, None, build_metrics([{"TopkAcc": {"topk": [1]}}]))["top1"]


def test_best_model_holds_the_better_of_the_weights_and_the_ema(tmp_path, data):
    # run A: EMA decay 1 keeps the random initial weights; the trained weights are better
    config_a = tiny_config(tmp_path / "a", data["train"], data["eval"], epochs=3)
    config_a["EMA"] = {"decay": 1.0}
    run_a = trained(config_a)
    best_a = tmp_path / "a" / "output" / "TestTinyMLP" / "best_model.pdparams"
    assert run_a.state.best_weights == "model" and run_a.state.best_metric == 1.0
    assert max_difference(weights(paddle.load(str(best_a))), weights(run_a.ema.state_dict())) > 1e-3
    assert evaluate_file(config_a, best_a) == 1.0
    # run B starts from A's best and learns wrong labels; its EMA (decay 1) stays at A's best
    config_b = tiny_config(tmp_path / "b", data["wrong"], data["eval"], epochs=2,
                           pretrained_model=str(best_a))
    config_b["EMA"] = {"decay": 1.0}
    config_b["Optimizer"]["lr"]["learning_rate"] = 0.5
    run_b = Trainer(config_b)
    plain = run_b.run()
    assert plain["top1"] < 0.5 and run_b.state.best_metric == 1.0
    assert run_b.state.best_weights == "ema" and run_b.state.best_epoch == 1
    best_b = tmp_path / "b" / "output" / "TestTinyMLP" / "best_model.pdparams"
    assert max_difference(weights(paddle.load(str(best_b))), weights(paddle.load(str(best_a)))) == 0.0
    assert evaluate_file(config_b, best_b) == 1.0


def test_resume_restores_the_ema_exactly(tmp_path, data):
    def config(folder, epochs, **keys):
        result = tiny_config(folder, data["train"], epochs=epochs, **keys)
        result["EMA"] = {"decay": 0.9}
        return result

    whole = trained(config(tmp_path / "whole", 2))
    first = trained(config(tmp_path / "part", 1))
    latest = tmp_path / "part" / "output" / "TestTinyMLP" / "latest"
    saved = weights(paddle.load(str(latest) + ".pdema"))
    assert max_difference(saved, weights(first.ema.state_dict())) == 0.0
    with paddle.utils.unique_name.guard():
        resumed = Trainer(config(tmp_path / "resumed", 2, checkpoints=str(latest)))
        assert max_difference(weights(resumed.ema.state_dict()), saved) == 0.0
        resumed.run()
    assert max_difference(weights(resumed.ema.state_dict()), weights(whole.ema.state_dict())) < 1e-7
    assert max_difference(weights(resumed.ema.state_dict()), saved) > 1e-4


def losses_of_first_steps(config, steps):
    trainer = Trainer(config)
    trainer.model.train()
    batches = zip(range(steps), trainer.train_loader)
    return trainer, [trainer.train_step(images, labels, 1, step)["loss"]
                     for step, (images, labels) in batches]


def test_to_static_trains_with_the_losses_of_dygraph(tmp_path, data):
    dygraph, eager_losses = losses_of_first_steps(tiny_config(tmp_path / "d", data["train"]), 4)
    static, static_losses = losses_of_first_steps(tiny_config(tmp_path / "s", data["train"],
                                                              to_static=True), 4)
    assert isinstance(static.network.forward, paddle.jit.api.StaticFunction)
    assert not isinstance(dygraph.network.forward, paddle.jit.api.StaticFunction)
    assert len(set(eager_losses)) == 4  # the weights change between the steps
    np.testing.assert_allclose(static_losses, eager_losses, rtol=0, atol=1e-5)
    assert max_difference(weights(static.model), weights(dygraph.model)) < 1e-5


def test_to_static_run_evaluates(tmp_path, data):
    trainer = trained(tiny_config(tmp_path, data["train"], data["eval"], epochs=2, to_static=True))
    assert trainer.state.best_metric == evaluate_file(
        tiny_config(tmp_path, data["train"], data["eval"]),
        tmp_path / "output" / "TestTinyMLP" / "best_model.pdparams")


def test_use_dali_without_dali_warns_and_trains(tmp_path, data, records):
    trainer = trained(tiny_config(tmp_path, data["train"], use_dali=True))
    reason = "this project has no DALI pipeline" if dali_installed() else "NVIDIA DALI is not installed"
    assert records == [f"Global.use_dali is True but {reason}: using the normal data loader "
                       "(paddle.io.DataLoader)"]
    assert isinstance(trainer.train_loader, paddle.io.DataLoader)
    assert trainer.state.global_step == 4
    assert (tmp_path / "output" / "TestTinyMLP" / "latest.pdparams").is_file()


@pytest.mark.parametrize("decay", [1.5, -0.1, "0.9", True])
def test_ema_decay_must_be_in_0_1(tmp_path, data, decay):
    config = tiny_config(tmp_path, data["train"])
    config["EMA"] = {"decay": decay}
    with pytest.raises(ConfigError, match="EMA.decay must be a number in \\[0, 1\\]"):
        Trainer(config)


def test_skipped_batch_skips_its_whole_accumulation_group(tmp_path, data, records):
    with paddle.utils.unique_name.guard():
        trainer = Trainer(tiny_config(tmp_path / "nan", data["train"], update_freq=2, skip_nan_steps=True))
    real_loss, calls = trainer.train_loss, []

    def loss_nan_at_first_batch(logits, labels):
        calls.append(1)
        values = real_loss(logits, labels)
        return {k: v * float("nan") for k, v in values.items()} if len(calls) == 1 else values

    trainer.train_loss = loss_nan_at_first_batch
    trainer.model.train()
    batches = list(trainer.train_loader)
    for step, (images, labels) in enumerate(batches):
        trainer.train_step(images, labels, 1, step)
    assert trainer.state.global_step == 1 and trainer.lr.last_epoch == 2
    assert records == ["non-finite loss at epoch 1, iteration 0: step skipped (Global.skip_nan_steps)"]
    # the same initial weights updated once from batches 2 and 3 alone
    with paddle.utils.unique_name.guard():
        reference = Trainer(tiny_config(tmp_path / "ref", data["train"], update_freq=2))
    reference.model.train()
    for step, (images, labels) in enumerate(batches[2:]):
        reference.train_step(images, labels, 1, step)
    assert reference.state.global_step == 1
    assert max_difference(weights(trainer.model), weights(reference.model)) < 1e-7
