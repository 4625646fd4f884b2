"""Build per-sample operator pipelines from PaddleClas-style ``transform_ops`` lists."""
from ppcls.data.preprocess.ops import (OPERATORS, CropImage, DecodeImage, NormalizeImage,
                                       RandCropImage, RandFlipImage, ResizeImage, ToCHWImage,
                                       parse_scale)
from ppcls.data.preprocess.cifar_ops import RandomCropPad  # noqa: F401  (registers it)
from ppcls.data.preprocess.autoaugment import AutoAugment
from ppcls.data.preprocess.randaugment import RandAugment, RandAugmentV2, RandAugmentV3
from ppcls.data.preprocess.timm_autoaugment import TimmAutoAugment
from ppcls.data.preprocess.erasing import Cutout, GridMask, HideAndSeek, RandomErasing
from ppcls.data.preprocess.color import ColorJitter, PCALighting
from ppcls.utils.errors import ConfigError, UnknownKeyError

__all__ = [
    "OPERATORS", "create_operators", "transform", "outputs_chw", "parse_scale", "DecodeImage",
    "ResizeImage", "CropImage", "RandCropImage", "RandFlipImage", "NormalizeImage", "ToCHWImage",
    "AutoAugment", "RandAugment", "RandAugmentV2", "RandAugmentV3", "TimmAutoAugment",
    "RandomErasing", "Cutout", "GridMask", "HideAndSeek", "ColorJitter", "PCALighting",
]


def _create_one(position, entry, where):
    """Instantiate one ``{OpName: {kwargs} | None}`` entry, naming it in any error."""
    label = f"{where} entry {position} ({entry!r})"
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"{label}: each entry must be a single-key mapping like "
                          "{DecodeImage: {to_rgb: True}}")
    (name, params), = entry.items()
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise ConfigError(f"{label}: parameters of {name} must be a mapping or empty")
    try:
        return OPERATORS.create(name, params)
    except UnknownKeyError as err:
        raise err.within(f"{where}.{position}.{name}") from None
    except ConfigError as err:
        raise ConfigError(f"{label}: {err}") from err
    except TypeError as err:
        raise ConfigError(f"{label}: bad parameters for {name}: {err}") from err


def create_operators(op_list, where="transform_ops"):
    """Turn a list of single-key dicts (``[{DecodeImage: {...}}, {ToCHWImage: None}]``) into ops.

    ``where`` names the config key in error messages.
    """
    if not isinstance(op_list, (list, tuple)):
        raise ConfigError(f"{where} must be a list of operators, got {type(op_list).__name__}")
    return [_create_one(i, entry, where) for i, entry in enumerate(op_list)]


def transform(data, ops):
    """Apply ``ops`` in order to one sample."""
    for op in ops:
        data = op(data)
    return data


def outputs_chw(ops):
    """Whether the pipeline's last layout-changing operator leaves the image channel-first."""
    layouts = [op.output_layout for op in ops if getattr(op, "output_layout", None)]
    return bool(layouts) and layouts[-1] == "chw"
