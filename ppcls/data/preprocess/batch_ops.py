"""Batch operators (``DataLoader.<mode>.dataset.batch_transform_ops``): Mixup, CutMix, FMix, OpSampler.

A batch operator maps ``(images, targets, rng)`` to new ``(images, targets)``: ``images`` is a
float ``[B, C, H, W]`` array, ``targets`` a float ``[B, K]`` array of per-class target
probabilities (one-hot rows before any mixing) and ``rng`` a ``numpy.random.Generator``. Mixing
image ``i`` with image ``perm[i]`` by a weight ``lam`` mixes the targets the same way, so
``targets[i] = lam * onehot(label_i) + (1 - lam) * onehot(label_perm[i])`` and each row still
sums to 1. PaddleClas names, parameters and defaults; ``class_num`` (which PaddleClas injects
from ``Arch.class_num``) is used by the collate step that builds the one-hot rows.
"""
import numpy as np

from ppcls.utils import logger
from ppcls.utils.errors import ConfigError, UnknownKeyError
from ppcls.utils.registry import Registry

BATCH_OPERATORS = Registry("batch operator")


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _mix(first, second, weight):
    """``weight * first + (1 - weight) * second`` in the dtype of ``first``."""
    return (weight * first + (1.0 - weight) * second).astype(first.dtype, copy=False)


@BATCH_OPERATORS.register
class MixupOperator:
    """Mixup (Zhang et al., 2018): ``x_i <- lam * x_i + (1 - lam) * x_perm[i]``, ``lam ~ Beta(alpha, alpha)``.

    Draws from ``rng``, in order: ``perm = rng.permutation(B)``, ``lam = rng.beta(alpha, alpha)``.
    """

    def __init__(self, alpha=1.0):
        self.alpha = _positive(alpha, "MixupOperator.alpha")

    def __call__(self, images, targets, rng):
        perm = rng.permutation(len(images))
        lam = rng.beta(self.alpha, self.alpha)
        return _mix(images, images[perm], lam), _mix(targets, targets[perm], lam)


def cutmix_box(height, width, lam, rng):
    """The CutMix box ``(top, bottom, left, right)`` for a drawn ``lam`` (Yun et al., 2019).

    The box has sides ``int(height * sqrt(1 - lam))`` by ``int(width * sqrt(1 - lam))`` around
    a centre ``(rng.integers(height), rng.integers(width))`` (drawn in that order), with each
    half side rounded down and the box clipped to the image.
    """
    cut = np.sqrt(1.0 - lam)
    half_h, half_w = int(height * cut) // 2, int(width * cut) // 2
    row, col = int(rng.integers(height)), int(rng.integers(width))
    return (max(row - half_h, 0), min(row + half_h, height),
            max(col - half_w, 0), min(col + half_w, width))


@BATCH_OPERATORS.register
class CutmixOperator:
    """CutMix: paste the box :func:`cutmix_box` of ``x_perm[i]`` into ``x_i``.

    ``lam ~ Beta(alpha, alpha)`` sets the box size; the targets are mixed with the corrected
    ``lam = 1 - box_area / (H * W)``, the fraction of each image that is still its own.
    Draws from ``rng``, in order: the permutation, ``lam``, the box centre.
    """

    def __init__(self, alpha=0.2):
        self.alpha = _positive(alpha, "CutmixOperator.alpha")

    def __call__(self, images, targets, rng):
        perm = rng.permutation(len(images))
        lam = rng.beta(self.alpha, self.alpha)
        height, width = images.shape[-2:]
        top, bottom, left, right = cutmix_box(height, width, lam, rng)
        mixed = images.copy()
        mixed[..., top:bottom, left:right] = images[perm][..., top:bottom, left:right]
        kept = 1.0 - (bottom - top) * (right - left) / float(height * width)
        return mixed, _mix(targets, targets[perm], kept)


def low_frequency_image(height, width, decay_power, rng):
    """A random image whose Fourier amplitudes fall off as ``1 / f ** decay_power`` (FMix).

    Frequencies below ``1 / max(height, width)`` are raised to it; real and imaginary parts
    are standard normal draws scaled by that amplitude.
    """
    freq_y = np.fft.fftfreq(height)[:, None]
    freq_x = np.fft.rfftfreq(width)[None, :]
    freq = np.maximum(np.sqrt(freq_y ** 2 + freq_x ** 2), 1.0 / max(height, width))
    amplitude = freq ** -float(decay_power)
    spectrum = amplitude * (rng.standard_normal(freq.shape) + 1j * rng.standard_normal(freq.shape))
    return np.fft.irfft2(spectrum, s=(height, width))


def fmix_mask(height, width, lam, decay_power, max_soft, rng):
    """The FMix mask (Harris et al., 2020): the ``lam`` fraction of highest pixels of a low
    frequency image set to 1, the rest 0, with a linear ramp over ``max_soft`` of the pixels
    on each side of the threshold (capped at ``min(lam, 1 - lam)``)."""
    order = np.argsort(-low_frequency_image(height, width, decay_power, rng), axis=None)
    size = height * width
    count = int(round(lam * size))
    soft = int(size * min(max_soft, lam, 1.0 - lam))
    ramp = np.zeros(size)
    ramp[:count - soft] = 1.0
    ramp[count - soft:count + soft] = np.linspace(1.0, 0.0, 2 * soft)
    mask = np.empty(size)
    mask[order] = ramp
    return mask.reshape(height, width)


@BATCH_OPERATORS.register
class FmixOperator:
    """FMix: ``x_i <- m * x_i + (1 - m) * x_perm[i]`` with the mask ``m`` of :func:`fmix_mask`.

    ``lam ~ Beta(alpha, alpha)`` (``Beta(alpha + 1, alpha)`` with ``reformulate``) sets the mask's
    share; the targets are mixed with the mask's actual mean. Draws from ``rng``, in order: the
    permutation, ``lam``, the spectrum.
    """

    def __init__(self, alpha=1.0, decay_power=3, max_soft=0.0, reformulate=False):
        self.alpha = _positive(alpha, "FmixOperator.alpha")
        self.decay_power = _positive(decay_power, "FmixOperator.decay_power")
        if not 0.0 <= float(max_soft) <= 0.5:
            raise ConfigError(f"FmixOperator.max_soft must be in [0, 0.5], got {max_soft!r}")
        self.max_soft = float(max_soft)
        self.reformulate = bool(reformulate)

    def __call__(self, images, targets, rng):
        perm = rng.permutation(len(images))
        lam = rng.beta(self.alpha + self.reformulate, self.alpha)
        height, width = images.shape[-2:]
        mask = fmix_mask(height, width, lam, self.decay_power, self.max_soft, rng)
        return _mix(images, images[perm], mask), _mix(targets, targets[perm], mask.mean())


@BATCH_OPERATORS.register
class OpSampler:
    """Apply at most one of several batch operators to each batch.

    ``OpSampler: {MixupOperator: {alpha: 0.8, prob: 0.5}, CutmixOperator: {alpha: 1.0, prob: 0.5}}``:
    each operator is chosen with its ``prob`` (a missing ``prob`` is 0, with a warning, as in
    PaddleClas) and none with ``1 - sum(prob)``; the probabilities must sum to at most 1.
    Draws from ``rng``: one ``rng.random()`` for the choice, then the chosen operator's draws.
    """

    def __init__(self, class_num=None, **op_params):
        if not op_params:
            logger.warning("OpSampler has no operators; it leaves every batch unchanged")
        self.ops, self.probs = [], []
        for name, params in op_params.items():
            params = dict(params or {})
            if "prob" not in params:
                logger.warning("OpSampler: %s has no prob; it is never chosen (prob 0)", name)
            prob = params.pop("prob", 0.0)
            if isinstance(prob, bool) or not isinstance(prob, (int, float)) or prob < 0:
                raise ConfigError(f"OpSampler.{name}.prob must be a number >= 0, got {prob!r}")
            self.ops.append(build_batch_operator(name, params, f"OpSampler.{name}", class_num))
            self.probs.append(float(prob))
        if sum(self.probs) > 1.0 + 1e-9:
            raise ConfigError(f"OpSampler: the probs of its operators sum to {sum(self.probs):g} > 1")

    def choose(self, rng):
        """The operator for one batch (None: leave the batch unchanged)."""
        draw = rng.random()
        for op, bound in zip(self.ops, np.cumsum(self.probs)):
            if draw < bound:
                return op
        return None

    def __call__(self, images, targets, rng):
        op = self.choose(rng)
        return (images, targets) if op is None else op(images, targets, rng)


def build_batch_operator(name, params, where, class_num=None):
    """``BATCH_OPERATORS[name](**params)``, naming ``where`` in errors.

    A ``class_num`` in ``params`` (PaddleClas injects ``Arch.class_num`` there) must equal
    ``class_num``; it is handed on only to ``OpSampler``, whose operators it checks.
    """
    params = dict(params or {})
    given = params.pop("class_num", None)
    if given is not None and class_num is not None and given != class_num:
        raise ConfigError(f"{where}: class_num {given!r} differs from Arch.class_num {class_num}")
    if name == "OpSampler":
        params["class_num"] = class_num
    try:
        return BATCH_OPERATORS.create(name, params)
    except UnknownKeyError as err:
        raise err.within(where) from None
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    except TypeError as err:
        raise ConfigError(f"{where}: bad parameters for {name}: {err}") from err


def create_batch_operators(op_list, class_num=None, where="batch_transform_ops"):
    """Turn ``[{OpName: {params}}, ...]`` into batch operators, applied in list order."""
    if not isinstance(op_list, (list, tuple)):
        raise ConfigError(f"{where} must be a list of operators, got {type(op_list).__name__}")
    ops = []
    for position, entry in enumerate(op_list):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{where} entry {position} must be a single-key mapping, got {entry!r}")
        (name, params), = entry.items()
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"{where} entry {position}: parameters of {name} must be a mapping")
        ops.append(build_batch_operator(name, params, f"{where}.{position}.{name}", class_num))
    return ops
