"""A tiny image set and quick-start config for tests that start real training runs in seconds.

Images are 32×32 PNGs of a few flat colours with noise (class = colour), so MicroNet-M0 learns
them within two epochs; lists hold ``relative/path label`` lines like PaddleClas's.
"""
import cv2
import numpy as np

from tests.train_helpers import write_config

COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40))
"""One BGR colour per class."""


def write_tiny_set(folder, per_class=8, seed=0):
    """Write ``per_class`` train and 2 val images per colour under ``folder``; returns the lists."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = {"train": [], "val": []}
    for label, colour in enumerate(COLOURS):
        for split, count in (("train", per_class), ("val", 2)):
            for index in range(count):
                noise = rng.integers(-30, 31, size=(32, 32, 3))
                image = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                name = f"images/{split}_{label}_{index}.png"
                cv2.imwrite(str(folder / name), image)
                lines[split].append(f"{name} {label}")
    paths = {}
    for split, entries in lines.items():
        paths[split] = folder / f"{split}_list.txt"
        paths[split].write_text("\n".join(entries) + "\n", encoding="utf-8")
    return paths["train"], paths["val"]


def write_tiny_config(path, data_folder, output_dir, epochs=2, batch_size=8, **global_keys):
    """A quick-start config over :func:`write_tiny_set`'s lists (written if absent)."""
    train_list, val_list = data_folder / "train_list.txt", data_folder / "val_list.txt"
    if not train_list.exists():
        train_list, val_list = write_tiny_set(data_folder)
    return write_config(path, data_folder, train_list, val_list, output_dir, epochs=epochs,
                        batch_size=batch_size, **global_keys)
