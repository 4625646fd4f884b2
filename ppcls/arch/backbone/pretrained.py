"""PaddleClas's released ImageNet weights: their file names and URLs, and loading them.

PaddleClas 2.6 publishes ``NAME_pretrained.pdparams`` (``NAME_ssld_pretrained.pdparams`` for the
SSLD-distilled weights) under ``https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/``, in a
``legendary_models/`` sub-folder for its legendary models (MobileNetV3 among the families here).
``pretrained=True`` looks for that file name in :data:`ppcls.utils.weights.WEIGHTS_HOME`; when it
is absent and cannot be downloaded, the error names the URL to fetch and where to put it.
"""
from ppcls.utils.errors import WeightsError
from ppcls.utils.weights import load_pretrained

RELEASE_ROOT = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
LEGENDARY_FOLDER = "legendary_models/"


def released_url(name, use_ssld=False, legendary=False):
    """URL of PaddleClas's released weights for ``name`` (its SSLD weights with ``use_ssld``)."""
    suffix = "_ssld_pretrained.pdparams" if use_ssld else "_pretrained.pdparams"
    return RELEASE_ROOT + (LEGENDARY_FOLDER if legendary else "") + name + suffix


def load_released(model, pretrained, name, use_ssld=False, legendary=False, hybrid_stem=False):
    """Builders' ``pretrained``: False, a local ``.pdparams`` path, or True for PaddleClas's file.

    PaddleClas's weights have no hybrid stem, so ``pretrained=True`` with ``hybrid_stem`` is refused;
    padding-free downsampling adds no parameter, so they load into a padding-free network.
    """
    if pretrained is True and hybrid_stem:
        raise WeightsError(f"{name}: PaddleClas's released weights have no hybrid stem; set "
                           "hybrid_stem: False, or pass the path of a .pdparams file as pretrained")
    return load_pretrained(model, pretrained, released_url(name, use_ssld, legendary))
