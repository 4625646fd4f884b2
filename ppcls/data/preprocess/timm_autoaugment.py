"""PaddleClas's ``TimmAutoAugment``: timm's RandAugment, AugMix and AutoAugment chosen by ``config_str``.

``config_str`` is dash-separated: a head naming the scheme, then ``<key><number>`` sections.

- ``rand-m9-n2-mstd0.5-inc1-w0``: RandAugment; ``m`` magnitude (default 10), ``n`` operations per
  image (2), ``mstd`` std of Gaussian magnitude noise (0), ``inc`` 1 uses the variants whose
  strength increases with magnitude (0), ``w0`` draws operations with timm's fixed weights, without
  replacement (default: uniformly, with replacement). Each drawn operation applies with
  probability 1/2.
- ``augmix-m3-w3-d-1-a1-b0-mstd0``: AugMix (Hendrycks et al., 2020, arXiv:1912.02781); ``m``
  severity (3), ``w`` chains (3), ``d`` chain depth (-1: 1 to 3 at random), ``a`` Dirichlet/Beta
  ``alpha`` (1), ``b`` 1 blends chain by chain (0).
- ``original``, ``originalr``, ``v0``, ``v0r`` (optionally ``-mstd<x>``): AutoAugment policies;
  ``auto`` is ``v0``.

A magnitude ``m`` in ``[0, 10]`` (noise added, then clipped) maps to each operation's argument by
its level function (``LEVEL_ARGS``); geometric operations fill with ``mean`` (as 0-255 RGB) and
resample with ``interpolation`` (``random``: bilinear or bicubic per operation).
"""
import random
import re

import numpy as np
from PIL import Image

from ppcls.data.preprocess import pil_ops
from ppcls.data.preprocess.ops import OPERATORS
from ppcls.utils.errors import ConfigError

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
MAX_LEVEL = 10.0
_RANDOM_RESAMPLE = (pil_ops.BILINEAR, pil_ops.BICUBIC)


def _negate_half(value):
    """``-value`` with probability 1/2 (``random.random() > 0.5``)."""
    return -value if random.random() > 0.5 else value


def _fraction(level, top):
    return level / MAX_LEVEL * top


# Level functions: magnitude level in [0, 10] (and hparams) -> the operation's argument.
LEVEL_ARGS = {
    "Rotate": lambda m, hp: _negate_half(_fraction(m, 30.0)),
    "Posterize": lambda m, hp: int(_fraction(m, 4)),
    "PosterizeIncreasing": lambda m, hp: 4 - int(_fraction(m, 4)),
    "PosterizeOriginal": lambda m, hp: int(_fraction(m, 4)) + 4,
    "Solarize": lambda m, hp: int(_fraction(m, 256)),
    "SolarizeIncreasing": lambda m, hp: 256 - int(_fraction(m, 256)),
    "SolarizeAdd": lambda m, hp: int(_fraction(m, 110)),
    "ShearX": lambda m, hp: _negate_half(_fraction(m, 0.3)),
    "ShearY": lambda m, hp: _negate_half(_fraction(m, 0.3)),
    "TranslateX": lambda m, hp: _negate_half(_fraction(m, float(hp["translate_const"]))),
    "TranslateY": lambda m, hp: _negate_half(_fraction(m, float(hp["translate_const"]))),
    "TranslateXRel": lambda m, hp: _negate_half(_fraction(m, hp["translate_pct"])),
    "TranslateYRel": lambda m, hp: _negate_half(_fraction(m, hp["translate_pct"])),
}
for _kind in ("Color", "Contrast", "Brightness", "Sharpness"):
    LEVEL_ARGS[_kind] = lambda m, hp: _fraction(m, 1.8) + 0.1
    LEVEL_ARGS[_kind + "Increasing"] = lambda m, hp: 1.0 + _negate_half(_fraction(m, 0.9))

_GEOMETRIC = {
    "ShearX": lambda img, v, rs, fill: pil_ops.shear_x(img, v, rs, fill),
    "ShearY": lambda img, v, rs, fill: pil_ops.shear_y(img, v, rs, fill),
    "TranslateX": lambda img, v, rs, fill: pil_ops.translate_x(img, v, rs, fill),
    "TranslateY": lambda img, v, rs, fill: pil_ops.translate_y(img, v, rs, fill),
    "TranslateXRel": lambda img, v, rs, fill: pil_ops.translate_x(img, v * img.size[0], rs, fill),
    "TranslateYRel": lambda img, v, rs, fill: pil_ops.translate_y(img, v * img.size[1], rs, fill),
    "Rotate": lambda img, v, rs, fill: pil_ops.rotate(img, v, rs, fill),
}
_PHOTOMETRIC = {"AutoContrast": pil_ops.autocontrast, "Equalize": pil_ops.equalize,
                "Invert": pil_ops.invert}
_WITH_ARGUMENT = {"Posterize": pil_ops.posterize, "Solarize": pil_ops.solarize,
                  "SolarizeAdd": pil_ops.solarize_add}
for _kind in ("Color", "Contrast", "Brightness", "Sharpness"):
    _WITH_ARGUMENT[_kind] = lambda img, v, kind=_kind.lower(): pil_ops.enhance(kind, img, v)


def _base_operation(name):
    """``PosterizeIncreasing`` -> ``Posterize``: the image function behind a level variant."""
    return re.sub(r"(Increasing|Original)$", "", name)


class AugmentOp:
    """One named operation at magnitude ``magnitude`` (0..10), applied with probability ``prob``."""

    def __init__(self, name, prob, magnitude, hparams):
        self.name = name
        self.base = _base_operation(name)
        self.prob = prob
        self.magnitude = magnitude
        self.hparams = hparams

    def __call__(self, img):
        if self.prob < 1.0 and random.random() > self.prob:
            return img
        magnitude = self.magnitude
        if self.hparams["magnitude_std"] > 0:
            magnitude = random.gauss(magnitude, self.hparams["magnitude_std"])
        magnitude = min(MAX_LEVEL, max(0.0, magnitude))
        if self.base in _PHOTOMETRIC:
            return _PHOTOMETRIC[self.base](img)
        value = LEVEL_ARGS[self.name](magnitude, self.hparams)
        if self.base in _GEOMETRIC:
            resample = self.hparams["resample"]
            if isinstance(resample, tuple):
                resample = random.choice(resample)
            return _GEOMETRIC[self.base](img, value, resample, self.hparams["fill"])
        return _WITH_ARGUMENT[self.base](img, value)


# AutoAugment policies: sub-policies of (operation, probability, magnitude).
_POLICY_V0 = (
    (("Equalize", 0.8, 1), ("ShearY", 0.8, 4)), (("Color", 0.4, 9), ("Equalize", 0.6, 3)),
    (("Color", 0.4, 1), ("Rotate", 0.6, 8)), (("Solarize", 0.8, 3), ("Equalize", 0.4, 7)),
    (("Solarize", 0.4, 2), ("Solarize", 0.6, 2)), (("Color", 0.2, 0), ("Equalize", 0.8, 8)),
    (("Equalize", 0.4, 8), ("SolarizeAdd", 0.8, 3)), (("ShearX", 0.2, 9), ("Rotate", 0.6, 8)),
    (("Color", 0.6, 1), ("Equalize", 1.0, 2)), (("Invert", 0.4, 9), ("Rotate", 0.6, 0)),
    (("Equalize", 1.0, 9), ("ShearY", 0.6, 3)), (("Color", 0.4, 7), ("Equalize", 0.6, 0)),
    (("Posterize", 0.4, 6), ("AutoContrast", 0.4, 7)), (("Solarize", 0.6, 8), ("Color", 0.6, 9)),
    (("Solarize", 0.2, 4), ("Rotate", 0.8, 9)), (("Rotate", 1.0, 7), ("TranslateYRel", 0.8, 9)),
    (("ShearX", 0.0, 0), ("Solarize", 0.8, 4)), (("ShearY", 0.8, 0), ("Color", 0.6, 4)),
    (("Color", 1.0, 0), ("Rotate", 0.6, 2)), (("Equalize", 0.8, 4), ("Equalize", 0.0, 8)),
    (("Equalize", 1.0, 4), ("AutoContrast", 0.6, 2)), (("ShearY", 0.4, 7), ("SolarizeAdd", 0.6, 7)),
    (("Posterize", 0.8, 2), ("Solarize", 0.6, 10)), (("Solarize", 0.6, 8), ("Equalize", 0.6, 1)),
    (("Color", 0.8, 6), ("Rotate", 0.4, 5)),
)
_POLICY_ORIGINAL = (
    (("PosterizeOriginal", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
    (("PosterizeOriginal", 0.6, 7), ("PosterizeOriginal", 0.6, 6)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)), (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)),
    (("PosterizeOriginal", 0.8, 5), ("Equalize", 1.0, 2)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, 8), ("PosterizeOriginal", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)), (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
    (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)), (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)), (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)), (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)), (("Color", 0.4, 0), ("Equalize", 0.6, 3)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)), (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
)


def _research_posterize(policy, posterize):
    """The ``r`` variants: Posterize levels replaced by ``PosterizeIncreasing``."""
    return tuple(tuple(("PosterizeIncreasing" if op == posterize else op, p, m) for op, p, m in sub)
                 for sub in policy)


AUTO_AUGMENT_POLICIES = {
    "v0": _POLICY_V0,
    "v0r": _research_posterize(_POLICY_V0, "Posterize"),
    "original": _POLICY_ORIGINAL,
    "originalr": _research_posterize(_POLICY_ORIGINAL, "PosterizeOriginal"),
}

RAND_TRANSFORMS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize",
                   "SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX",
                   "ShearY", "TranslateXRel", "TranslateYRel")
RAND_INCREASING_TRANSFORMS = tuple(
    name + "Increasing" if name in ("Posterize", "Solarize", "Color", "Contrast", "Brightness",
                                    "Sharpness") else name
    for name in RAND_TRANSFORMS)
# timm's experimental operation weights (``w0``), in ``RAND_TRANSFORMS`` order.
RAND_CHOICE_WEIGHTS_0 = (0.025, 0.005, 0, 0.3, 0, 0.005, 0.005, 0.025, 0.005, 0.005, 0.025,
                         0.2, 0.2, 0.1, 0.1)
AUGMIX_TRANSFORMS = ("AutoContrast", "ColorIncreasing", "ContrastIncreasing",
                     "BrightnessIncreasing", "SharpnessIncreasing", "Equalize", "Rotate",
                     "PosterizeIncreasing", "SolarizeIncreasing", "ShearX", "ShearY",
                     "TranslateXRel", "TranslateYRel")


class RandAugmentPolicy:
    """Apply ``num_layers`` operations drawn from ``ops`` (weighted draws are without replacement)."""

    def __init__(self, ops, num_layers, weights=None):
        self.ops = ops
        self.num_layers = num_layers
        self.weights = weights

    def __call__(self, img):
        chosen = np.random.choice(len(self.ops), self.num_layers, replace=self.weights is None,
                                  p=self.weights)
        for index in chosen:
            img = self.ops[index](img)
        return img


class AutoAugmentPolicy:
    """Apply one sub-policy, drawn uniformly with ``random.choice``."""

    def __init__(self, sub_policies):
        self.sub_policies = sub_policies

    def __call__(self, img):
        for op in random.choice(self.sub_policies):
            img = op(img)
        return img


class AugMixPolicy:
    """AugMix: ``(1 - m) x + m sum_i w_i chain_i(x)``, ``w ~ Dir(alpha)``, ``m ~ Beta(alpha, alpha)``.

    Each of ``width`` chains applies ``depth`` operations (1 to 3 at random when ``depth <= 0``).
    ``blended`` folds the same mixture into one PIL blend per chain.
    """

    def __init__(self, ops, alpha, width, depth, blended):
        self.ops = ops
        self.alpha = alpha
        self.width = width
        self.depth = depth
        self.blended = blended

    def _chain(self, img):
        depth = self.depth if self.depth > 0 else np.random.randint(1, 4)
        for index in np.random.choice(len(self.ops), depth, replace=True):
            img = self.ops[index](img)
        return img

    def _mix_arrays(self, img, weights, m):
        mixed = np.zeros(np.asarray(img).shape, dtype=np.float32)
        for weight in weights:
            mixed += weight * np.asarray(self._chain(img), dtype=np.float32)
        np.clip(mixed, 0, 255.0, out=mixed)
        return Image.blend(img, Image.fromarray(mixed.astype(np.uint8)), float(m))

    def _mix_blended(self, img, weights, m):
        """Blend chain ``i`` with ``alpha_i = m w_i / prod_{j>i}(1 - alpha_j)``, last chain first."""
        alphas, remaining = [], 1.0
        for weight in (weights * m)[::-1]:
            alphas.append(weight / remaining)
            remaining *= 1 - alphas[-1]
        original, out = img, img
        for alpha in alphas[::-1]:
            out = Image.blend(out, self._chain(original), float(alpha))
        return out

    def __call__(self, img):
        weights = np.float32(np.random.dirichlet([self.alpha] * self.width))
        m = np.float32(np.random.beta(self.alpha, self.alpha))
        return self._mix_blended(img, weights, m) if self.blended else self._mix_arrays(img, weights, m)


_SECTION_KEYS = {
    "rand": {"m": int, "n": int, "w": int, "mstd": float, "inc": int},
    "augmix": {"m": int, "w": int, "d": int, "a": float, "b": int, "mstd": float},
    "auto": {"mstd": float},
}


def parse_config_str(config_str):
    """Split ``config_str`` into ``(scheme, policy name or None, {key: number})``; bad -> ConfigError."""
    if not isinstance(config_str, str) or not config_str:
        raise ConfigError(f"TimmAutoAugment config_str must be a non-empty string, got {config_str!r}")
    head, *sections = re.split(r"-(?=[a-z])", config_str)
    policy = "v0" if head == "auto" else head
    scheme = head if head in ("rand", "augmix") else "auto"
    if scheme == "auto" and policy not in AUTO_AUGMENT_POLICIES:
        raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: it must start with 'rand', "
                          f"'augmix', 'auto' or a policy ({', '.join(AUTO_AUGMENT_POLICIES)})")
    values = {}
    for section in sections:
        match = re.fullmatch(r"([a-z]+)(-?\d+(?:\.\d*)?)", section)
        kinds = _SECTION_KEYS[scheme]
        if match is None or match.group(1) not in kinds:
            raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: bad section {section!r}; "
                              f"'{head}' takes <key><number> with key in {', '.join(kinds)}")
        key, text = match.groups()
        try:
            values[key] = kinds[key](text)
        except ValueError as err:
            raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: section {section!r} "
                              f"needs an integer") from err
    return scheme, (policy if scheme == "auto" else None), values


def _check_sections(config_str, scheme, values):
    if scheme == "augmix" and values.get("w", 3) < 1:
        raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: AugMix needs w >= 1 chains")
    for key in ("m", "n", "w"):
        if values.get(key, 0) < 0:
            raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: {key} must be >= 0")
    if values.get("mstd", 0) < 0:
        raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: mstd must be >= 0")


@OPERATORS.register
class TimmAutoAugment(pil_ops.PILOperator):
    """PaddleClas's ``TimmAutoAugment(config_str="rand-m9-mstd0.5-inc1", interpolation="bicubic",
    img_size=224, mean=IMAGENET_DEFAULT_MEAN)`` on an HWC uint8 RGB image.

    ``img_size`` sets absolute translations (``0.45 * min(img_size)`` pixels at magnitude 10).
    """

    def __init__(self, config_str="rand-m9-mstd0.5-inc1", interpolation="bicubic", img_size=224,
                 mean=IMAGENET_DEFAULT_MEAN):
        scheme, policy, values = parse_config_str(config_str)
        _check_sections(config_str, scheme, values)
        sizes = img_size if isinstance(img_size, (list, tuple)) else [img_size]
        if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ConfigError(f"TimmAutoAugment img_size must be a positive int or pair, got {img_size!r}")
        if not isinstance(mean, (list, tuple)) or len(mean) != 3:
            raise ConfigError(f"TimmAutoAugment mean must be three numbers, got {mean!r}")
        hparams = {
            "translate_const": int(min(sizes) * 0.45),
            "translate_pct": 0.3 if scheme == "augmix" else 0.45,
            "fill": tuple(min(255, round(255 * x)) for x in mean),
            "resample": self._resample(interpolation),
            "magnitude_std": values.get("mstd", 0.0),
        }
        self.policy = self._build(scheme, policy, values, hparams)

    @staticmethod
    def _resample(interpolation):
        if not interpolation or interpolation == "random":
            return _RANDOM_RESAMPLE
        return pil_ops.policy_interpolation(interpolation, "TimmAutoAugment")

    @staticmethod
    def _build(scheme, policy, values, hparams):
        if scheme == "rand":
            names = RAND_INCREASING_TRANSFORMS if values.get("inc", 0) else RAND_TRANSFORMS
            ops = [AugmentOp(name, 0.5, values.get("m", 10), hparams) for name in names]
            if "w" in values and values["w"] != 0:
                raise ConfigError("TimmAutoAugment config_str: only weight set w0 exists")
            weights = None
            if "w" in values:
                weights = np.asarray(RAND_CHOICE_WEIGHTS_0) / np.sum(RAND_CHOICE_WEIGHTS_0)
            return RandAugmentPolicy(ops, values.get("n", 2), weights)
        if scheme == "augmix":
            ops = [AugmentOp(name, 1.0, values.get("m", 3), hparams) for name in AUGMIX_TRANSFORMS]
            return AugMixPolicy(ops, values.get("a", 1.0), values.get("w", 3), values.get("d", -1),
                                bool(values.get("b", 0)))
        return AutoAugmentPolicy([[AugmentOp(name, p, m, hparams) for name, p, m in sub]
                                  for sub in AUTO_AUGMENT_POLICIES[policy]])

    def apply(self, img):
        return self.policy(img)
