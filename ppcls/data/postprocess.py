"""Turn classifier outputs into PaddleClas-style prediction records."""
import copy
import os

import numpy as np

from ppcls.utils.errors import ConfigError, UnknownKeyError
from ppcls.utils.package_files import package_file
from ppcls.utils.registry import Registry

POSTPROCESS = Registry("postprocess")


def load_class_id_map(path, delimiter=None):
    """Read ``id name`` lines (the name may contain spaces) into ``{id: name}``; a relative
    ``ppcls/...`` path missing from the working directory is the installed package's file."""
    path = package_file(path)
    if not os.path.isfile(path):
        raise ConfigError(f"class_id_map_file not found: {os.path.abspath(path)}")
    mapping = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line:
                continue
            parts = line.split(delimiter, 1)
            try:
                class_id = int(parts[0])
            except ValueError as err:
                raise ConfigError(
                    f"{path} line {number}: expected 'id name', got {line!r}") from err
            mapping[class_id] = parts[1].strip() if len(parts) > 1 else ""
    return mapping


def to_probabilities(x):
    """Return ``x`` if every row is already a probability vector, else its row-wise softmax."""
    x = np.asarray(x, dtype=np.float64)
    if np.all(x >= 0) and np.allclose(x.sum(axis=1), 1.0, rtol=0.0, atol=1e-4):
        return x
    shifted = np.exp(x - x.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@POSTPROCESS.register
class Topk:
    """The ``topk`` most probable classes per row, with scores and optional label names.

    Each record is ``{"class_ids", "scores" (rounded to 5 decimals), "file_name" (None when no
    names are given), "label_names" (empty without a class map)}``; ties go to the lower id.
    """

    def __init__(self, topk=1, class_id_map_file=None, delimiter=None):
        if isinstance(topk, bool) or not isinstance(topk, int) or topk <= 0:
            raise ConfigError(f"Topk topk must be a positive integer, got {topk!r}")
        self.topk = topk
        self.class_id_map_file = class_id_map_file
        self.class_id_map = (None if class_id_map_file is None
                             else load_class_id_map(class_id_map_file, delimiter))

    def check_class_count(self, num_classes):
        """A class map must name exactly the classes the model predicts."""
        if self.class_id_map is not None and len(self.class_id_map) != num_classes:
            raise ConfigError(
                f"class_id_map_file {self.class_id_map_file} names {len(self.class_id_map)} classes "
                f"but the model predicts {num_classes}; use the class map of the data the model "
                "was trained on")

    def __call__(self, x, file_names=None):
        probs = to_probabilities(np.asarray(x).reshape(len(x), -1))
        self.check_class_count(probs.shape[1])
        if file_names is not None and len(file_names) != len(probs):
            raise ValueError(f"{len(file_names)} file names for {len(probs)} predictions")
        order = np.argsort(-probs, axis=1, kind="stable")[:, :self.topk]
        return [self._record(row, ids, None if file_names is None else file_names[i])
                for i, (row, ids) in enumerate(zip(probs, order))]

    def _record(self, row, ids, file_name):
        names = ([] if self.class_id_map is None
                 else [self.class_id_map.get(int(i), "") for i in ids])
        return {
            "class_ids": [int(i) for i in ids],
            "scores": [round(float(row[i]), 5) for i in ids],
            "file_name": file_name,
            "label_names": names,
        }


def build_postprocess(config):
    """Build a post-processor from ``{name: Topk, topk: 5, ...}``; ``None`` gives ``None``."""
    if config is None:
        return None
    if not isinstance(config, dict) or "name" not in config:
        raise ConfigError("PostProcess must be a mapping with a 'name' key")
    params = copy.deepcopy(config)
    name = params.pop("name")
    try:
        return POSTPROCESS.create(name, params)
    except UnknownKeyError as err:
        raise err.within("PostProcess") from None
    except TypeError as err:
        raise ConfigError(f"PostProcess: bad parameters for {name}: {err}") from err
