"""Build the quick-start data set from scikit-learn's bundled digits.

scikit-learn ships 1797 handwritten digits (8x8 grey images, 10 classes)
inside the package, so this needs no download. Each digit is upscaled to
``--size`` pixels and saved as a 3-channel PNG; the image lists follow the
ImageNet list format used by ``ImageNetDataset``::

    OUT/images/<class>/<index>.png
    OUT/train_list.txt      images/3/0123.png 3
    OUT/val_list.txt
    OUT/label_list.txt      0 zero   (class_id_map_file of Topk)
    OUT/samples/digit_<class>.png   copies of a few val images

Running it again on a complete set leaves every file untouched.
"""

import argparse
import os
import shutil
import sys

import cv2
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven",
               "eight", "nine")
SAMPLE_CLASSES = (0, 3, 7)
VAL_FRACTION = 0.2
SPLIT_SEED = 42
DIGIT_MAX = 16.0  # sklearn digits hold grey levels 0..16


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="dataset/digits",
                        help="output folder (default: dataset/digits)")
    parser.add_argument("--size", type=int, default=32,
                        help="side of the saved square images in pixels")
    return parser.parse_args(argv)


def image_relpath(index, label):
    """Return the list-file path of digit ``index`` with class ``label``."""
    return f"images/{label}/{index:04d}.png"


def upscale(digit, size):
    """Turn one 8x8 digit (0..16) into a ``size`` x ``size`` x 3 uint8 image."""
    grey = digit.astype(np.float32) * (255.0 / DIGIT_MAX)
    big = cv2.resize(grey, (size, size), interpolation=cv2.INTER_CUBIC)
    big = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


def split_indices(labels):
    """Return sorted (train, val) index arrays, stratified by class."""
    indices = np.arange(len(labels))
    train, val = train_test_split(indices, test_size=VAL_FRACTION,
                                  stratify=labels, random_state=SPLIT_SEED)
    return np.sort(train), np.sort(val)


def read_list(path):
    """Return the lines of a list file, or an empty list if it is missing."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def is_complete(out, size, expected_count):
    """Tell whether ``out`` already holds a full set of ``size`` images."""
    listed = (read_list(os.path.join(out, "train_list.txt")) +
              read_list(os.path.join(out, "val_list.txt")))
    if len(listed) != expected_count:
        return False
    if len(read_list(os.path.join(out, "label_list.txt"))) != len(CLASS_NAMES):
        return False
    paths = [os.path.join(out, line.split()[0]) for line in listed]
    samples = [sample_path(out, c) for c in SAMPLE_CLASSES]
    if not all(os.path.isfile(p) for p in paths + samples):
        return False
    first = cv2.imread(paths[0], cv2.IMREAD_COLOR)
    return first is not None and first.shape == (size, size, 3)


def sample_path(out, label):
    """Return where the predict-demo sample of class ``label`` goes."""
    return os.path.join(out, "samples", f"digit_{label}.png")


def write_images(out, images, labels, size):
    """Save every digit as a PNG under ``out/images/<class>/``."""
    for label in range(len(CLASS_NAMES)):
        os.makedirs(os.path.join(out, "images", str(label)), exist_ok=True)
    for index, (digit, label) in enumerate(zip(images, labels)):
        path = os.path.join(out, image_relpath(index, label))
        if not cv2.imwrite(path, upscale(digit, size)):
            raise OSError(f"could not write {path}")


def write_lines(path, lines):
    """Write ``lines`` to ``path`` through a temporary file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def write_samples(out, val, labels):
    """Copy the first val image of each class in SAMPLE_CLASSES to samples/."""
    os.makedirs(os.path.join(out, "samples"), exist_ok=True)
    for cls in SAMPLE_CLASSES:
        index = next(i for i in val if labels[i] == cls)
        src = os.path.join(out, image_relpath(index, cls))
        shutil.copyfile(src, sample_path(out, cls))


def build(out, size):
    """Write the whole data set and return (train count, val count)."""
    digits = load_digits()
    labels = digits.target
    train, val = split_indices(labels)
    write_images(out, digits.images, labels, size)
    write_samples(out, val, labels)
    write_lines(os.path.join(out, "label_list.txt"),
                [f"{i} {name}" for i, name in enumerate(CLASS_NAMES)])
    for name, subset in (("train_list.txt", train), ("val_list.txt", val)):
        write_lines(os.path.join(out, name),
                    [f"{image_relpath(i, labels[i])} {labels[i]}"
                     for i in subset])
    return len(train), len(val)


def main(argv=None):
    """Build the data set unless it is already there; print one summary line."""
    args = parse_args(argv)
    if args.size < 8:
        sys.exit(f"--size must be at least 8, got {args.size}")
    total = len(load_digits().target)
    if is_complete(args.out, args.size, total):
        print(f"digits data set already complete in {args.out} "
              f"({total} images), nothing to do")
        return
    n_train, n_val = build(args.out, args.size)
    print(f"wrote {n_train} train + {n_val} val digit images "
          f"({args.size}x{args.size}, {len(CLASS_NAMES)} classes) to {args.out}")


if __name__ == "__main__":
    main()
