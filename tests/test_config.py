"""Tests for ppcls.utils.config: loading, overrides, validation and printing."""
import copy
import logging
import os

import pytest

from ppcls.utils import config as cfgmod
from ppcls.utils.errors import ConfigError
from tests.conftest import REFERENCE_DATA, reference_skip_reason

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M3 = os.path.join(REPO, "ppcls", "configs", "ImageNet", "MicroNet", "MicroNet_M3.yaml")

BASE = {
    "Global": {"epochs": 10, "output_dir": "./output/", "eval_during_train": False},
    "Arch": {"name": "MicroNet_M0", "class_num": 10},
    "Loss": {"Train": [{"CELoss": {"weight": 1.0}}]},
    "Optimizer": {"name": "Momentum", "momentum": 0.9},
    "DataLoader": {
        "Train": {
            "dataset": {
                "name": "ImageNetDataset",
                "transform_ops": [
                    {"DecodeImage": {"to_rgb": True}},
                    {"RandCropImage": {"size": 224}},
                ],
            },
            "sampler": {"batch_size": 64},
        },
    },
}


@pytest.fixture
def base():
    """A fresh copy of a minimal valid train config."""
    return copy.deepcopy(BASE)


@pytest.fixture
def records():
    """Collect records of the 'ppcls' logger (it does not propagate to caplog's root handler)."""

    class ListHandler(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    log = logging.getLogger("ppcls")
    handler, old_level = ListHandler(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler.records
    log.removeHandler(handler)
    log.setLevel(old_level)


def write(tmp_path, text, name="cfg.yaml"):
    """Write ``text`` to a YAML file under tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def messages(records, level=logging.WARNING):
    """Return the formatted messages logged at ``level``."""
    return [r.getMessage() for r in records if r.levelno == level]


def test_parse_args_flags():
    args = cfgmod.parse_args("x", ["-c", "a.yaml", "-o", "Global.epochs=1", "--override", "Arch.name=B"])
    assert args.config == "a.yaml"
    assert args.override == ["Global.epochs=1", "Arch.name=B"]
    assert cfgmod.parse_args("x", ["--config", "b.yaml"]).override == []
    with pytest.raises(SystemExit):
        cfgmod.parse_args("x", ["-o", "Global.epochs=1"])


def test_overrides_are_typed(base):
    cfgmod.apply_overrides(base, [
        "Global.epochs=3", "Optimizer.momentum=0.5", "Global.eval_during_train=True",
        "Global.image_shape=[3, 32, 32]", "Global.output_dir=./out/", "Arch.class_num=null",
        "Arch.name=", "Optimizer.name=a=b",
    ])
    assert base["Global"]["epochs"] == 3 and isinstance(base["Global"]["epochs"], int)
    assert base["Optimizer"]["momentum"] == 0.5
    assert base["Global"]["eval_during_train"] is True
    assert base["Global"]["image_shape"] == [3, 32, 32]
    assert base["Global"]["output_dir"] == "./out/"
    assert base["Arch"]["class_num"] is None
    assert base["Arch"]["name"] == ""
    assert base["Optimizer"]["name"] == "a=b"


def test_returns_same_object(base):
    assert cfgmod.apply_overrides(base, ["Global.epochs=2"]) is base


def test_list_index_override(base):
    cfgmod.apply_overrides(base, ["DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=192"])
    ops = base["DataLoader"]["Train"]["dataset"]["transform_ops"]
    assert ops[1] == {"RandCropImage": {"size": 192}}
    assert ops[0] == {"DecodeImage": {"to_rgb": True}}


def test_replace_list_element(base):
    cfgmod.apply_overrides(base, ["DataLoader.Train.dataset.transform_ops.0={ToCHWImage: null}"])
    assert base["DataLoader"]["Train"]["dataset"]["transform_ops"][0] == {"ToCHWImage": None}


def test_nested_creation(base, records):
    cfgmod.apply_overrides(base, ["Global.new.deep.key=1"])
    assert base["Global"]["new"] == {"deep": {"key": 1}}
    assert messages(records) == []


def test_missing_equals_sign(base):
    with pytest.raises(ConfigError, match="override 'Global.epochs' must look like"):
        cfgmod.apply_overrides(base, ["Global.epochs"])


def test_empty_key_component(base):
    with pytest.raises(ConfigError, match="'Global..epochs=1' has an empty key"):
        cfgmod.apply_overrides(base, ["Global..epochs=1"])


def test_out_of_range_index(base):
    override = "DataLoader.Train.dataset.transform_ops.5.RandCropImage.size=1"
    with pytest.raises(ConfigError) as info:
        cfgmod.apply_overrides(base, [override])
    assert override in str(info.value)
    assert "index 5 is out of range" in str(info.value)
    assert "a list of 2 items" in str(info.value)


def test_non_integer_list_index(base):
    with pytest.raises(ConfigError, match="is a list; use an integer index instead of 'first'"):
        cfgmod.apply_overrides(base, ["DataLoader.Train.dataset.transform_ops.first=1"])


def test_descending_into_a_value(base):
    with pytest.raises(ConfigError, match="'Global.epochs' is a value, not a section"):
        cfgmod.apply_overrides(base, ["Global.epochs.max=1"])


def test_unparsable_list_value(base):
    with pytest.raises(ConfigError, match="cannot parse value"):
        cfgmod.apply_overrides(base, ["Global.image_shape=[3, 32"])


def test_unknown_override_key_is_one_error_naming_the_override(base, records):
    overrides = ["Global.epoch=5", "Global.epochs=4"]
    cfgmod.apply_overrides(base, overrides)
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config(base, "train", overrides)
    assert str(info.value) == ("config is not valid for train:\n  - unknown key 'Global.epoch' "
                               "set by -o Global.epoch=5 (did you mean epochs?)")
    assert messages(records) == []


def test_known_keys_not_warned(base, records):
    cfgmod.apply_overrides(base, ["Global.epochs=4", "DataLoader.Train.sampler.batch_size=8"])
    assert messages(records) == []


def test_load_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        cfgmod.load_config(path)


def test_malformed_yaml_reports_file_and_line(tmp_path):
    text = "Global:\n  epochs: 1\n  seed: 2\n    bad: 3\nArch:\n  name: x\n"
    path = write(tmp_path, text, "broken.yaml")
    with pytest.raises(ConfigError) as info:
        cfgmod.load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4:")
    assert "Traceback" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_top_level_must_be_mapping(tmp_path):
    path = write(tmp_path, "- a\n- b\n", "list.yaml")
    with pytest.raises(ConfigError, match="list.yaml must contain a mapping"):
        cfgmod.load_config(path)


def test_load_returns_plain_structure(tmp_path):
    path = write(tmp_path, "Global:\n  image_shape: [3, 8, 8]\n")
    assert cfgmod.load_config(path) == {"Global": {"image_shape": [3, 8, 8]}}


def test_valid_config_passes(base):
    assert cfgmod.check_config(base, "train") is base


def test_missing_required_keys_listed_together():
    config = {"Global": {"eval_during_train": True}, "Arch": {}}
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config(config, "train")
    message = str(info.value)
    for key in ("Arch.name", "Global.epochs", "Global.output_dir", "Loss.Train", "Optimizer",
                "DataLoader.Train.dataset.name", "DataLoader.Train.sampler",
                "DataLoader.Eval.dataset.name", "DataLoader.Eval.sampler"):
        assert f"missing required key '{key}'" in message
    assert "'Global'" not in message


def test_eval_keys_only_when_needed(base):
    cfgmod.check_config(base, "train")
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config(base, "eval")
    message = str(info.value)
    assert "DataLoader.Eval.dataset.name" in message
    assert "Global.epochs" not in message


def test_infer_requirements():
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config({"Global": {}, "Arch": {"name": "M"}, "Infer": {"infer_imgs": "a.jpg"}}, "infer")
    message = str(info.value)
    assert "Infer.transforms" in message and "Infer.PostProcess" in message
    assert "Infer.infer_imgs" not in message


def test_misspelt_section_raises_with_suggestion(base):
    base["Optimzer"] = base.pop("Optimizer")
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config(base, "train")
    message = str(info.value)
    assert "unknown key 'Optimzer' (did you mean Optimizer?)" in message
    assert "missing required key 'Optimizer'" in message


@pytest.mark.parametrize("shape, ok", [
    ([3, 224, 224], True), ([3, 224], False), ([3, "224", 224], False),
    ([3, 0, 224], False), ("3,224,224", False), ([True, 2, 2], False), (None, False),
])
def test_export_image_shape(base, shape, ok):
    base["Global"]["image_shape"] = shape
    if ok:
        cfgmod.check_config(base, "export")
        return
    with pytest.raises(ConfigError, match="Global.image_shape"):
        cfgmod.check_config(base, "export")


def test_unknown_global_key_in_the_yaml_is_an_error(base, records):
    base["Global"]["epoch"] = 5
    with pytest.raises(ConfigError, match=r"unknown key 'Global.epoch' \(did you mean epochs\?\)$"):
        cfgmod.check_config(base, "train")
    assert messages(records) == []


def test_bad_mode(base):
    with pytest.raises(ValueError):
        cfgmod.check_config(base, "serve")


def test_get_config_real_m3_with_overrides():
    args = cfgmod.parse_args("t", ["-c", M3, "-o", "Global.epochs=1",
                                   "-o", "DataLoader.Train.sampler.batch_size=8"])
    config = cfgmod.get_config(args.config, args.override, mode="train")
    assert config["Global"]["epochs"] == 1
    assert config["DataLoader"]["Train"]["sampler"]["batch_size"] == 8
    assert config["DataLoader"]["Eval"]["sampler"]["batch_size"] == 64
    assert config["Arch"]["name"] == "MicroNet_M3"


@pytest.mark.parametrize("rel", ["ImageNet/MicroNet/MicroNet_M3.yaml", "quick_start/MicroNet_M0.yaml"])
@pytest.mark.parametrize("mode", cfgmod.MODES)
def test_shipped_configs_pass_every_mode(rel, mode, records):
    cfgmod.get_config(os.path.join(REPO, "ppcls", "configs", rel), mode=mode)
    assert messages(records) == []


def test_print_config(records):
    config = {"Global": {"epochs": 600, "image_shape": [3, 224, 224]},
              "ops": [{"Crop": {"size": 224}}, {"ToCHW": None}]}
    cfgmod.print_config(config)
    assert messages(records, logging.INFO) == [
        "Global : ", "    epochs : 600", "    image_shape : [3, 224, 224]",
        "ops : ", "    - Crop : ", "          size : 224", "    - ToCHW : None"]


def test_print_config_round_trips_real_config(records):
    config = cfgmod.load_config(M3)
    cfgmod.print_config(config)
    lines = messages(records, logging.INFO)
    assert lines[0] == "Global : "
    assert "    epochs : 600" in lines
    start = lines.index("            transform_ops : ")
    assert lines[start + 1:start + 4] == [
        "                - DecodeImage : ", "                      to_rgb : True",
        "                      channel_first : False"]


@pytest.mark.parametrize("text, value", [
    ("None", None), ("null", None), ("~", None), ("True", True), ("true", True), ("False", False),
    ("false", False), ("1", 1), ("-3", -3), ("1e-3", 0.001), ("0.5", 0.5), ("[1,2]", [1, 2]),
    ("(3, 32, 32)", [3, 32, 32]), ("[None, 1e-3, 'a']", [None, 0.001, "a"]), ("'a b'", "a b"),
    ("{'k': (1, 2)}", {"k": [1, 2]}), ("[a, b]", ["a", "b"]), ("{ToCHWImage: null}", {"ToCHWImage": None}),
    ("MicroNet_M0", "MicroNet_M0"), ("./output/", "./output/"), ("1.0/255.0", "1.0/255.0"),
    ("rand-m9-mstd0.5-inc1", "rand-m9-mstd0.5-inc1"), ("010", "010"), ("2020-01-01", "2020-01-01"),
    ("yes", "yes"), ("1j", "1j"), ("__import__('os')", "__import__('os')"), ("", ""),
])
def test_override_values_parse_as_paddleclas_reads_them(text, value):
    parsed = cfgmod.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_amp_none_override_disables_the_section(base):
    base["AMP"] = {"use_amp": True, "level": "O1"}
    cfgmod.apply_overrides(base, ["AMP=None", "EMA=None"])
    assert base["AMP"] is None and base["EMA"] is None
    assert cfgmod.check_config(base, "train") is base
    with pytest.raises(ConfigError, match="'AMP' is a value, not a section"):
        cfgmod.apply_overrides(base, ["AMP.level=O2"])


def test_a_fixed_section_of_the_wrong_type_is_named(base):
    base["AMP"] = "None"
    with pytest.raises(ConfigError, match="AMP must be a mapping \\(or null\\), got 'None'"):
        cfgmod.check_config(base, "train")


@pytest.mark.parametrize("path, key, match", [
    ("", "Metirc", "unknown key 'Metirc' (did you mean Metric?)"),
    ("Global", "epoch", "unknown key 'Global.epoch' (did you mean epochs?)"),
    ("Global", "updatefreq", "unknown key 'Global.updatefreq' (did you mean update_freq?)"),
    ("AMP", "use_fp16_tets", "unknown key 'AMP.use_fp16_tets' (did you mean use_fp16_test?)"),
    ("EMA", "decya", "unknown key 'EMA.decya' (did you mean decay?)"),
    ("Infer", "batchsize", "unknown key 'Infer.batchsize' (did you mean batch_size?)"),
    ("Loss", "train", "unknown key 'Loss.train' (did you mean Train?)"),
    ("DataLoader.Train", "sampeler", "unknown key 'DataLoader.Train.sampeler' (did you mean sampler?)"),
    ("DataLoader.Train.loader", "num_worker",
     "unknown key 'DataLoader.Train.loader.num_worker' (did you mean num_workers?)"),
    ("Global", "zzz", "unknown key 'Global.zzz' (expected one of: checkpoints, pretrained_model, "),
])
def test_typos_in_fixed_sections_stop_with_close_matches(base, records, path, key, match):
    node = base
    for part in path.split(".") if path else []:
        node = node.setdefault(part, {})
    node[key] = 1
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config(base, "train")
    assert match in str(info.value)
    assert str(info.value).count("unknown key") == 1
    assert messages(records) == []


def test_every_key_of_paddleclas_shared_configs_is_accepted():
    """The keys PaddleClas's 17 shared ImageNet configs use in the fixed-schema sections."""
    config = {
        "Global": dict.fromkeys(("checkpoints", "pretrained_model", "output_dir", "device",
                                 "save_interval", "eval_during_train", "eval_interval", "epochs",
                                 "print_batch_step", "use_visualdl", "image_shape",
                                 "save_inference_dir", "to_static", "use_dali", "update_freq"), 1),
        "AMP": dict.fromkeys(("use_amp", "use_fp16_test", "scale_loss", "use_dynamic_loss_scaling",
                              "use_promote", "level"), 1),
        "EMA": {"decay": 0.9995}, "Arch": {"name": "MicroNet_M0"},
        "Infer": dict.fromkeys(("infer_imgs", "batch_size", "transforms", "PostProcess"), 1),
        "DataLoader": {mode: {"dataset": {}, "sampler": {},
                              "loader": {"num_workers": 4, "use_shared_memory": True}}
                       for mode in ("Train", "Eval")},
        "Loss": {"Train": [], "Eval": []}, "Metric": {"Train": [], "Eval": []}, "Optimizer": {},
    }
    problems = cfgmod._schema_problems(config, [])
    assert problems == []


@pytest.mark.parametrize("overrides, expected", [
    (["Slim.quant.name=pact"], "not supported: Slim (quantization and pruning with PaddleSlim)"),
    (["Arch.name=DistillationModel"], "not supported: Arch.name: DistillationModel (knowledge distillation)"),
    (["Arch.name=RecModel"], "not supported: Arch.name: RecModel (retrieval (feature learning))"),
    (["Loss.Train.0={DistillationCELoss: {weight: 1.0}}"],
     "not supported: Loss.Train.0.DistillationCELoss (knowledge distillation)"),
    (["Loss.Eval=[{TripletLossV2: {weight: 1.0}}]"],
     "not supported: Loss.Eval.0.TripletLossV2 (retrieval (metric learning))"),
    (["Metric.Eval=[{Recallk: {topk: [1, 5]}}]"], "not supported: Metric.Eval.0.Recallk (retrieval)"),
    (["Global.use_multilabel=True"],
     "not supported: Global.use_multilabel: True (multilabel classification)"),
    (["Global.eval_mode=retrieval"],
     "not supported: Global.eval_mode: retrieval (only classification is implemented)"),
    (["DataLoader.Eval.Gallery.dataset.name=ImageNetDataset"],
     "not supported: DataLoader.Eval.Gallery (retrieval)"),
    (["DataLoader.UnLabelTrain.dataset.name=ImageNetDataset"],
     "not supported: DataLoader.UnLabelTrain (semi-supervised learning)"),
])
def test_unsupported_paddleclas_features_stop(base, overrides, expected):
    cfgmod.apply_overrides(base, overrides)
    with pytest.raises(ConfigError) as info:
        cfgmod.check_config(base, "train", overrides)
    assert str(info.value) == f"config is not valid for train:\n  - {expected}"


def test_supported_values_of_paddleclas_feature_keys_pass(base):
    cfgmod.apply_overrides(base, ["Global.use_multilabel=False", "Global.eval_mode=classification",
                                  "Slim=None"])
    assert cfgmod.check_config(base, "train") is base


def _predictor_module():
    from ppcls.tools import predict_cls
    return predict_cls


def test_none_overrides_switch_off_the_class_maps():
    from ppcls.data import build_postprocess
    config = cfgmod.get_config(M3, ["Infer.PostProcess.class_id_map_file=None"], mode="infer")
    topk = build_postprocess(config["Infer"]["PostProcess"])
    assert topk.class_id_map is None
    assert topk([[0.1, 0.7, 0.2]], ["x.jpg"])[0]["label_names"] == []
    predictor = _predictor_module()
    deploy = cfgmod.apply_overrides(
        cfgmod.load_config(os.path.join(REPO, "ppcls", "configs", "deploy", "inference_cls.yaml")),
        ["PostProcess.Topk.class_id_map_file=None", "PostProcess.Topk.topk=2"])
    topk, _ = predictor.build_postprocess(deploy["PostProcess"])
    assert topk.class_id_map is None and topk.topk == 2
    deploy["PostProcess"]["Topk"]["top_k"] = 1
    with pytest.raises(ConfigError, match=r"unknown key 'PostProcess.Topk.top_k' \(did you mean topk\?\)"):
        predictor.build_postprocess(deploy["PostProcess"])


PADDLECLAS_CONFIGS = str(REFERENCE_DATA / "paddleclas_configs")


@pytest.mark.parametrize("mode", cfgmod.MODES)
def test_paddleclas_shared_configs_pass_the_check(mode, records):
    """PaddleClas's 17 shared ImageNet configs, Arch swapped and ``-o AMP=None``: no problem, no warning."""
    if not os.path.isdir(PADDLECLAS_CONFIGS):
        pytest.skip(reference_skip_reason(PADDLECLAS_CONFIGS))
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(PADDLECLAS_CONFIGS)
                   for name in names if name.endswith(".yaml"))
    assert len(paths) == 17
    for path in paths:
        config = cfgmod.apply_overrides(cfgmod.load_config(path), ["AMP=None"])
        config["Arch"] = {"name": "MicroNet_M0", "class_num": 10}
        cfgmod.check_config(config, mode)
    assert messages(records) == []
