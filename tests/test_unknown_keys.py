"""Keys of constructor-checked sections (operators, datasets, samplers, Arch, losses, metrics,
post-processing): an unknown key is an error naming its full path and the close parameter names."""
import copy

import pytest

from ppcls.arch import build_model
from ppcls.data import build_dataloader, build_postprocess, create_operators
from ppcls.loss import build_loss
from ppcls.metric import build_metrics
from ppcls.utils.errors import ConfigError, UnknownKeyError, config_section
from ppcls.utils.registry import Registry, construct
from tests.engine_helpers import tiny_config, write_images


def takes_a_and_b(a, b=2):
    return a + b


def forwards_kwargs(a, **kwargs):
    return takes_a_and_b(a, **kwargs)


def test_construct_checks_the_signature_up_front():
    assert construct(takes_a_and_b, {"a": 1, "b": 5}) == 6
    with pytest.raises(UnknownKeyError) as info:
        construct(takes_a_and_b, {"a": 1, "bb": 5})
    assert str(info.value) == "unknown key 'bb' (did you mean b?)"
    assert (info.value.key, info.value.expected) == ("bb", ("a", "b"))


def test_construct_finds_a_forwarded_unknown_keyword_from_the_type_error():
    assert construct(forwards_kwargs, {"a": 1, "b": 1}) == 2
    with pytest.raises(UnknownKeyError, match=r"^unknown key 'aa' \(did you mean a\?\)$"):
        construct(forwards_kwargs, {"a": 1, "aa": 5})
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        construct(forwards_kwargs, {})


def test_extra_arguments_are_not_offered_as_matches():
    registry = Registry("thing")
    registry.register(takes_a_and_b, name="T")
    assert registry.create("T", {"b": 1}, a=2) == 3
    with pytest.raises(UnknownKeyError) as info:
        registry.create("T", {"c": 1}, a=2)
    assert str(info.value) == "unknown key 'c' (expected one of: b)"


def test_unknown_key_within_sections_and_origin():
    err = UnknownKeyError("size", ["sizes"], " set by -o X.size=1").within("B").within("A")
    assert str(err) == "unknown key 'A.B.size' set by -o X.size=1 (did you mean sizes?)"
    with pytest.raises(UnknownKeyError, match="unknown key 'Loss.Train.size'"):
        with config_section("Loss.Train"):
            raise UnknownKeyError("size", ["sizes"])


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return tiny_config(folder, write_images(folder, 4, seed=5))


@pytest.mark.parametrize("section, key, value, message", [
    ("dataset.transform_ops.1.NormalizeImage", "scael", 1.0,
     "unknown key 'DataLoader.Train.dataset.transform_ops.1.NormalizeImage.scael' (did you mean scale?)"),
    ("dataset", "cls_label_pth", "x",
     "unknown key 'DataLoader.Train.dataset.cls_label_pth' (did you mean cls_label_path?)"),
    ("sampler", "batch_sise", 4,
     "unknown key 'DataLoader.Train.sampler.batch_sise' (did you mean batch_size?)"),
])
def test_data_keys(config, section, key, value, message):
    config = copy.deepcopy(config)
    node = config["DataLoader"]["Train"]
    for part in section.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[key] = value
    with pytest.raises(ConfigError) as info:
        build_dataloader(config["DataLoader"], "Train")
    assert str(info.value) == message


def test_infer_transform_keys():
    with pytest.raises(ConfigError, match=r"^unknown key 'Infer.transforms.0.ResizeImage.resize_shot' "
                                          r"\(did you mean resize_short\?\)$"):
        create_operators([{"ResizeImage": {"resize_shot": 8}}], "Infer.transforms")


def test_arch_keys_of_a_builder_that_forwards_kwargs():
    with pytest.raises(ConfigError, match=r"^unknown key 'Arch.clas_num' \(did you mean class_num\?\)$"):
        build_model({"name": "MicroNet_M0", "clas_num": 4})
    assert build_model({"name": "MicroNet_M0", "class_num": 4, "infer_add_softmax": False}) is not None


def test_loss_metric_and_postprocess_keys():
    with pytest.raises(ConfigError, match=r"^unknown key 'Loss.Train.0.CELoss.epsilom' "
                                          r"\(did you mean epsilon\?\)$"):
        with config_section("Loss.Train"):
            build_loss([{"CELoss": {"weight": 1.0, "epsilom": 0.1}}])
    with pytest.raises(ConfigError,
                       match=r"^unknown key 'Metric.Eval.0.TopkAcc.top_k' \(did you mean topk\?\)$"):
        with config_section("Metric.Eval"):
            build_metrics([{"TopkAcc": {"top_k": [1]}}])
    with pytest.raises(ConfigError, match=r"^unknown key 'PostProcess.top_k' \(did you mean topk\?\)$"):
        build_postprocess({"name": "Topk", "top_k": 5})
