"""The training loop: build the parts a config names, train, evaluate, checkpoint, resume."""
import contextlib
import itertools
import math
import os

import paddle

from ppcls.arch import build_model
from ppcls.data import build_dataloader, mixes_labels, set_loader_epoch
from ppcls.engine.amp import MixedPrecision
from ppcls.engine.dali import check_use_dali
from ppcls.engine.ema import ModelEMA
from ppcls.engine.evaluator import evaluate
from ppcls.engine.meters import MeterGroup, Timer
from ppcls.engine.setup import check_labels_fit, run_dir, seed_everything, select_device
from ppcls.loss import build_loss
from ppcls.metric import build_metrics, build_train_metrics
from ppcls.optimizer import build_optimizer
from ppcls.utils import dist, logger
from ppcls.utils.checkpoint import load_checkpoint, save_checkpoint
from ppcls.utils.errors import ConfigError, PPClsError, config_section
from ppcls.utils.weights import load_state_dict, load_weights


class NonFiniteLossError(PPClsError):
    """The loss (with ``Global.skip_nan_steps`` off) or the weights became NaN or infinite."""


class TrainState:
    """Progress that a checkpoint must restore: epoch, optimizer steps and the best evaluation so
    far, with the weights that reached it (``"model"`` or ``"ema"``)."""

    def __init__(self):
        self.epoch, self.global_step = 0, 0
        self.best_metric, self.best_epoch, self.best_weights = float("-inf"), None, None

    def state_dict(self):
        return dict(self.__dict__)

    def set_state_dict(self, state):
        for key, default in TrainState().__dict__.items():
            setattr(self, key, state.get(key, default))


def ema_decay(ema_config):
    """``EMA.decay`` (default 0.9999, PaddleClas's), a number in [0, 1]."""
    decay = ema_config.get("decay", 0.9999)
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay <= 1:
        raise ConfigError(f"EMA.decay must be a number in [0, 1], got {decay!r}")
    return float(decay)


def positive_int(value, key):
    """``value`` as an int ≥ 1, or a ConfigError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    return value


class VisualDLWriter:
    """Scalars to VisualDL on rank 0 when ``Global.use_visualdl`` is on."""

    def __init__(self, enabled, logdir):
        self.writer = None
        if enabled and dist.is_main():
            try:
                from visualdl import LogWriter
            except ImportError:
                raise ConfigError("Global.use_visualdl is True but VisualDL is not installed: "
                                  "pip install visualdl") from None
            self.writer = LogWriter(logdir=logdir)

    def add_scalars(self, prefix, values, step):
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(tag=f"{prefix}/{name}", value=value, step=step)

    def close(self):
        if self.writer is not None:
            self.writer.close()


class Trainer:
    """Train ``config`` from scratch, from ``Global.pretrained_model``, or resume ``Global.checkpoints``.

    ``Global.update_freq`` = k accumulates the gradients of k batches (each loss scaled by 1/k)
    into one optimizer, LR-schedule and EMA step, as PaddleClas does: an epoch of n batches makes
    n // k steps and leaves out its last n mod k batches. ``Global.to_static`` trains the
    dynamic-to-static program of the network. With ``EMA``, each evaluation also evaluates the EMA
    weights and ``best_model`` holds whichever of the two scored best.
    """

    def __init__(self, config):
        self.config, glob = config, config["Global"]
        self.device = select_device(glob.get("device", "cpu"))
        self.amp = MixedPrecision(config.get("AMP"), self.device)
        dist.init_parallel()
        self.seed = int(glob.get("seed", 0) or 0)
        seed_everything(self.seed)
        self.output_dir = run_dir(config)
        self.epochs = int(glob["epochs"])
        self.print_batch_step = int(glob.get("print_batch_step", 10))
        self.skip_nan_steps = bool(glob.get("skip_nan_steps", False))
        self.update_freq = positive_int(glob.get("update_freq", 1), "Global.update_freq")
        self._group_skipped = False
        check_use_dali(glob.get("use_dali", False))
        self.model = build_model(config["Arch"])
        if glob.get("pretrained_model"):
            load_weights(self.model, glob["pretrained_model"])
        class_num = int(config["Arch"].get("class_num", 1000))
        self.train_loader = build_dataloader(config["DataLoader"], "Train", self.device, self.seed, class_num)
        check_labels_fit(self.train_loader.dataset, class_num, "DataLoader.Train.dataset")
        self._fit_update_freq(len(self.train_loader))
        self.eval_loader = None
        if glob.get("eval_during_train", False):
            self.eval_loader = build_dataloader(config["DataLoader"], "Eval", self.device, self.seed)
            check_labels_fit(self.eval_loader.dataset, class_num, "DataLoader.Eval.dataset")
        with config_section("Loss.Train"):
            self.train_loss = build_loss(config["Loss"]["Train"])
        with config_section("Loss.Eval"):
            self.eval_loss = build_loss(config["Loss"].get("Eval"))
        metric_cfg = config.get("Metric") or {}
        with config_section("Metric.Train"):
            self.train_metrics = build_train_metrics(metric_cfg.get("Train"), mixes_labels(self.train_loader))
        with config_section("Metric.Eval"):
            self.eval_metrics = build_metrics(metric_cfg.get("Eval") or [{"TopkAcc": {"topk": [1, 5]}}])
        self.optimizer, self.lr = build_optimizer(config["Optimizer"], self.epochs, len(self.train_loader),
                                                  self.model, update_freq=self.update_freq)
        self.model, self.optimizer = self.amp.decorate(self.model, self.optimizer)
        ema_cfg = config.get("EMA")
        self.ema = ModelEMA(self.model, ema_decay(ema_cfg)) if ema_cfg is not None else None
        self.state = TrainState()
        if glob.get("checkpoints"):
            self._resume(glob["checkpoints"])
        self.network = paddle.DataParallel(self.model) if dist.world_size() > 1 else self.model
        if glob.get("to_static", False):
            self.network = paddle.jit.to_static(self.network, full_graph=True)
        self.visualdl = VisualDLWriter(glob.get("use_visualdl", False), os.path.join(self.output_dir, "vdl"))

    def _fit_update_freq(self, batches):
        """PaddleClas's rule: an ``update_freq`` above the batches of an epoch becomes 1."""
        if self.update_freq > batches:
            logger.warning("Global.update_freq (%d) is larger than the %d batches of an epoch: "
                           "set to 1", self.update_freq, batches)
            self.update_freq = 1

    def run(self):
        """Train the remaining epochs; returns the last evaluation (or None)."""
        results = None
        for epoch in range(self.state.epoch + 1, self.epochs + 1):
            self.train_epoch(epoch)
            # BatchNorm statistics are per rank: average them so that every rank evaluates,
            # and rank 0 saves, the same model (and the same EMA model)
            dist.average_in_place(self._running_statistics() +
                                  (self.ema.statistics() if self.ema is not None else []))
            self._check_weights_finite(epoch)
            self.state.epoch = epoch
            if self._should_eval(epoch):
                results = self._evaluate_and_track(epoch)
            self._save_epoch(epoch)
        self.visualdl.close()
        return results

    def train_epoch(self, epoch):
        self.model.train()
        seed_everything(self.seed + epoch)
        set_loader_epoch(self.train_loader, epoch)
        meters, timer = MeterGroup(), Timer()
        steps, skipped = len(self.train_loader) // self.update_freq * self.update_freq, 0
        for step, (images, labels) in enumerate(itertools.islice(self.train_loader, steps)):
            timer.tick()
            lr = self.lr.last_lr  # the rate this step uses; the schedule moves on inside train_step
            values = self.train_step(images, labels, epoch, step)
            timer.tock(images.shape[0] * dist.world_size())
            skipped += not values
            meters.update(values, images.shape[0])
            if step % self.print_batch_step == 0 or step == steps - 1:
                remaining = (self.epochs - epoch) * steps + steps - step - 1
                logger.info("[Train][Epoch %d/%d][Iter: %d/%d]lr(%s): %.8f, %s, %s", epoch, self.epochs,
                            step, steps, type(self.lr).__name__, lr, meters.format(), timer.format(remaining))
                self.visualdl.add_scalars("train", dict(values, lr=lr), self.state.global_step)
        logger.info("[Train][Epoch %d/%d][Avg]%s", epoch, self.epochs, meters.format())
        if skipped:
            self._report_skipped(epoch, skipped, steps)

    def train_step(self, images, labels, epoch, step):
        """Forward and backward of batch ``step`` of the epoch, and the weight update when it ends
        a group of ``update_freq`` batches; returns the logged values of the batch ({} if skipped)."""
        statistics = self._running_statistics(clone=True) if self.skip_nan_steps else None
        with self.amp.autocast():
            logits = self.network(images)
            losses = self.train_loss(logits, labels)
        loss = losses["loss"]
        # every rank must take the same branch, or the gradient all-reduce would wait forever
        finite = dist.all_reduce_max(0.0 if math.isfinite(loss.item()) else 1.0) == 0
        if finite:
            self.amp.backward(loss / self.update_freq)
        else:
            self._non_finite(epoch, step, statistics)
        if (step + 1) % self.update_freq == 0:
            self._update_weights()
        if not finite:
            return {}
        values = {name: value.item() for name, value in losses.items()}
        if self.train_metrics is not None:
            values.update({k: v.item() for k, v in self.train_metrics(logits.astype("float32"), labels).items()})
        return values

    def _update_weights(self):
        """One optimizer, LR-schedule and EMA step from the accumulated gradients; a group with a
        skipped (non-finite) batch only moves the schedule on."""
        if self._group_skipped:
            self.optimizer.clear_grad()
        else:
            self.amp.step(self.optimizer)
            self.state.global_step += 1
            if self.ema is not None:
                self.ema.update(self.model)
        self._group_skipped = False
        self.lr.step()

    def _running_statistics(self, clone=False):
        """The state a forward pass updates: untrained tensors such as BatchNorm's ``_mean``/``_variance``."""
        tensors = [t for t in self.model.state_dict().values() if t.stop_gradient]
        return [t.clone() for t in tensors] if clone else tensors

    def _last_good_checkpoint(self):
        """The ``latest`` checkpoint of the run folder, the one to resume from after a failure."""
        latest = os.path.join(self.output_dir, "latest")
        return latest if os.path.exists(latest + ".pdstates") else "none (no checkpoint saved yet)"

    def _non_finite(self, epoch, step, statistics):
        """Stop, or with ``Global.skip_nan_steps`` undo the forward pass's statistics updates and
        skip the step (the whole group of ``update_freq`` batches)."""
        where = f"epoch {epoch}, iteration {step}"
        if not self.skip_nan_steps:
            raise NonFiniteLossError(f"the loss is not finite at {where}; training stopped. "
                                     f"Last good checkpoint: {self._last_good_checkpoint()}")
        logger.warning("non-finite loss at %s: step skipped (Global.skip_nan_steps)", where)
        for tensor, saved in zip(self._running_statistics(), statistics):
            tensor.set_value(saved)
        self._group_skipped = True

    def _report_skipped(self, epoch, skipped, steps):
        """Warn about an epoch's skipped steps; stop when no step of the epoch trained."""
        if skipped == steps:
            raise NonFiniteLossError(f"every one of the {steps} steps of epoch {epoch} had a non-finite "
                                     f"loss; training stopped. Last good checkpoint: "
                                     f"{self._last_good_checkpoint()}")
        logger.warning("epoch %d: %d of %d steps skipped for a non-finite loss", epoch, skipped, steps)

    def _check_weights_finite(self, epoch):
        """Refuse to evaluate or save weights that an update has driven to NaN or infinity."""
        bad = [name for name, value in self.model.state_dict().items()
               if value.dtype in (paddle.float16, paddle.bfloat16, paddle.float32, paddle.float64)
               and not bool(paddle.isfinite(value).all())]
        if bad:
            raise NonFiniteLossError(
                f"after epoch {epoch} some weights are not finite (first: {bad[0]}); "
                f"nothing saved (is the learning rate too high?). "
                f"Last good checkpoint: {self._last_good_checkpoint()}")

    def _should_eval(self, epoch):
        glob = self.config["Global"]
        return (self.eval_loader is not None and epoch >= int(glob.get("start_eval_epoch", 0))
                and epoch % int(glob.get("eval_interval", 1)) == 0)

    def _evaluate_and_track(self, epoch):
        """Evaluate the weights (and the EMA weights); save the better as ``best_model`` when it
        beats the best so far. Returns the evaluation of the trained weights."""
        results = self._evaluate(epoch, "[Eval]")
        self.visualdl.add_scalars("eval", results, epoch)
        candidates = [("model", results)]
        if self.ema is not None:
            with self._ema_weights():
                candidates.append(("ema", self._evaluate(epoch, "[Eval][EMA]")))
            self.visualdl.add_scalars("eval_ema", candidates[1][1], epoch)
        main_metric = next(iter(results))
        weights, best = max(candidates, key=lambda candidate: candidate[1][main_metric])
        if best[main_metric] > self.state.best_metric:
            self.state.best_metric, self.state.best_epoch = best[main_metric], epoch
            self.state.best_weights = weights
            self.save("best_model", weights)
        if self.ema is None:
            logger.info("[Eval][Epoch %d][best metric: %.5f]", epoch, self.state.best_metric)
        else:
            logger.info("[Eval][Epoch %d][best metric: %.5f][best weights: %s of epoch %d]", epoch,
                        self.state.best_metric, self.state.best_weights, self.state.best_epoch)
        return results

    def _evaluate(self, epoch, tag):
        return evaluate(self.network, self.eval_loader, self.eval_loss, self.eval_metrics, epoch,
                        self.print_batch_step, self.amp.eval_autocast, f"{tag}[Epoch {epoch}]")

    @contextlib.contextmanager
    def _ema_weights(self):
        """Run the block with the EMA weights in the model, then put the trained weights back."""
        live = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.model.set_state_dict(self.ema.state_dict())
        try:
            yield
        finally:
            self.model.set_state_dict(live)

    def _save_epoch(self, epoch):
        interval = int(self.config["Global"].get("save_interval", 1))
        if interval > 0 and epoch % interval == 0:
            self.save(f"epoch_{epoch}")
        self.save("latest")

    @dist.main_only
    def save(self, name, weights="model"):
        """Write checkpoint ``name``; ``weights="ema"`` stores the EMA weights as its ``.pdparams``."""
        prefix = os.path.join(self.output_dir, name)
        parts = {"pdparams": self.ema.state_dict() if weights == "ema" else self.model.state_dict(),
                 "pdopt": {"optimizer": self.optimizer.state_dict(), "lr": self.lr.state_dict()},
                 "pdema": self.ema.state_dict() if self.ema is not None else None}
        states = {**self.state.state_dict(), "seed": self.seed, "scaler": self.amp.state_dict(),
                  "metric_info": {"metric": self.state.best_metric, "epoch": self.state.best_epoch}}
        save_checkpoint(prefix, parts, states)
        logger.info("saved checkpoint %s", prefix)

    def _resume(self, prefix):
        parts, states = load_checkpoint(prefix)
        load_state_dict(self.model, parts["pdparams"], source=f"{prefix}.pdparams")
        self.optimizer.set_state_dict(parts["pdopt"]["optimizer"])
        self.lr.set_state_dict(parts["pdopt"]["lr"])
        if self.ema is not None and "pdema" in parts:
            self.ema.set_state_dict(parts["pdema"])
        self.amp.set_state_dict(states.get("scaler"))
        self.state.set_state_dict(states)
        if states.get("seed", self.seed) != self.seed:
            logger.warning("resuming with Global.seed %d; the checkpoint was trained with %d",
                           self.seed, states["seed"])
        logger.info("resuming from epoch %d (step %d, best metric %.5f)", self.state.epoch + 1,
                    self.state.global_step, self.state.best_metric)

