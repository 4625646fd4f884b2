"""A tiny in-process training set-up for the engine tests: colour-coded 8×8 images and a
BatchNorm-free two-layer network registered as ``TestTinyMLP``."""
import copy

import cv2
import numpy as np
import paddle
import paddle.nn as nn

from ppcls.arch import MODELS

CLASSES = 4
SIDE = 8
COLOURS = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]], dtype=np.float64)


class TinyMLP(nn.Layer):
    """Flatten → Linear(3·8·8, 16) → ReLU → Linear(16, class_num): no BatchNorm, no dropout."""

    def __init__(self, class_num=CLASSES):
        super().__init__()
        self.hidden = nn.Linear(3 * SIDE * SIDE, 16)
        self.out = nn.Linear(16, class_num)

    def forward(self, x):
        return self.out(nn.functional.relu(self.hidden(x.flatten(1))))


if "TestTinyMLP" not in MODELS:
    MODELS.register(TinyMLP, name="TestTinyMLP")


def write_images(folder, count, seed, label_shift=0, side=SIDE):
    """``count`` noisy ``side``×``side`` images of the class colours (class ``i % CLASSES``) and
    their list file. ``label_shift`` writes label ``(i + shift) % CLASSES``: a training set that
    teaches wrong labels.
    """
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        label = i % CLASSES
        image = np.clip(COLOURS[label] + rng.normal(0, 25, (side, side, 3)), 0, 255).astype(np.uint8)
        name = f"{seed}_{i}.png"
        cv2.imwrite(str(folder / name), image[:, :, ::-1])
        lines.append(f"{name} {(label + label_shift) % CLASSES}")
    list_file = folder / f"list_{seed}_{label_shift}.txt"
    list_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list_file


TRANSFORMS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
              {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0.5, 0.5, 0.5],
                                  "std": [0.5, 0.5, 0.5], "order": ""}},
              {"ToCHWImage": None}]


def tiny_config(folder, train_list, eval_list=None, batch_size=8, epochs=1, **global_keys):
    """A train config for TestTinyMLP on the lists written by :func:`write_images` (CPU, no shuffle,
    Momentum with a constant LR, eval only when ``eval_list`` is given)."""
    def section(list_file):
        return {"dataset": {"name": "ImageNetDataset", "image_root": str(list_file.parent),
                            "cls_label_path": str(list_file), "transform_ops": copy.deepcopy(TRANSFORMS)},
                "sampler": {"name": "DistributedBatchSampler", "batch_size": batch_size,
                            "shuffle": False, "drop_last": False},
                "loader": {"num_workers": 0, "use_shared_memory": False}}
    config = {
        "Global": {"output_dir": str(folder / "output"), "device": "cpu", "epochs": epochs,
                   "seed": 3, "print_batch_step": 100, "save_interval": 0,
                   "eval_during_train": eval_list is not None, **global_keys},
        "Arch": {"name": "TestTinyMLP", "class_num": CLASSES},
        "Loss": {"Train": [{"CELoss": {"weight": 1.0}}], "Eval": [{"CELoss": {"weight": 1.0}}]},
        "Optimizer": {"name": "Momentum", "momentum": 0.9,
                      "lr": {"name": "Constant", "learning_rate": 0.05}},
        "DataLoader": {"Train": section(train_list)},
        "Metric": {"Eval": [{"TopkAcc": {"topk": [1]}}]},
    }
    if eval_list is not None:
        config["DataLoader"]["Eval"] = section(eval_list)
    return config


def weights(model_or_state):
    """A model's (or state dict's) tensors as ``{name: float64 numpy array}``."""
    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    return {k: np.asarray(v.numpy() if isinstance(v, paddle.Tensor) else v, dtype=np.float64)
            for k, v in state.items()}
