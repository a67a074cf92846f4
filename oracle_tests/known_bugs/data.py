"""MNIST loader mutants: they wrap the public parse_idx and load_mnist."""

import numpy as np

from .core import mutant

DATA = "data"
SYNTHETIC = (
    "oracle_tests/project/test_data.py::test_synthetic_files_load_as_float32_over_255_and_int64"
)
PARSE = "oracle_tests/project/test_data_bad_input.py::test_parse_idx_returns_the_encoded_array_with"
TRAILING = (
    "oracle_tests/project/test_data_bad_input.py::"
    "test_bad_file_raises_dataset_error_naming_file_problem_and_fix[trailing-bytes-raw]"
)


def _wrap_loader(p, change) -> None:
    """Patch load_mnist so that it returns change(x_train, y_train, x_test, y_test)."""
    load = p.original(DATA, "load_mnist")

    def load_mnist(data_dir=None, train_size=12000):
        return change(*load(data_dir, train_size))

    p.patch(DATA, "load_mnist", load_mnist)


@mutant(
    bug="Images read after an 8-byte header (the labels file's) instead of 16: every "
    "pixel shifted by 8 bytes, shapes and checksums (taken on the file) still fine.",
    kill=[PARSE + "_its_declared_shape[shape2]", SYNTHETIC],
)
def data_images_read_at_the_labels_header_offset(p):
    parse = p.original(DATA, "parse_idx")

    def parse_idx(raw, name):
        a = parse(raw, name)
        if a.ndim != 3:
            return a
        return np.frombuffer(raw, dtype=np.uint8, count=a.size, offset=8).reshape(a.shape)

    p.patch(DATA, "parse_idx", parse_idx)


@mutant(
    bug="Labels misaligned with the images by one (a 9-byte labels header, or an "
    "off-by-one slice): image i gets label i+1; accuracy falls to chance yet no shape changes.",
    kill=[SYNTHETIC],
)
def data_labels_shifted_by_one(p):
    _wrap_loader(p, lambda x, y, xt, yt: (x, np.roll(y, -1), xt, np.roll(yt, -1)))


@mutant(
    bug="Pixels divided by 256 instead of 255: white is 0.996, a near-invisible change "
    "that torchvision's ToTensor would not make.",
    kill=[SYNTHETIC],
)
def data_pixels_divided_by_256(p):
    f = np.float32(255 / 256)
    _wrap_loader(p, lambda x, y, xt, yt: (x * f, y, xt * f, yt))


@mutant(
    bug="Images transposed (reshape(N, 28, 28, order='F'), or a column-major reader): "
    "still digits to a network, but not torchvision's MNIST.",
    kill=[SYNTHETIC],
)
def data_images_transposed(p):
    def transpose(x):
        return np.ascontiguousarray(x.swapaxes(2, 3))

    _wrap_loader(p, lambda x, y, xt, yt: (transpose(x), y, transpose(xt), yt))


@mutant(
    bug="Pixels returned as float64 (`images / 255` on uint8 promotes): twice the memory "
    "and a network silently trained in float64.",
    kill=[SYNTHETIC],
)
def data_pixels_float64(p):
    _wrap_loader(p, lambda x, y, xt, yt: (x.astype(np.float64), y, xt.astype(np.float64), yt))


@mutant(
    bug="Trailing bytes after the declared data accepted (np.frombuffer with count= "
    "ignores them): a concatenated or foreign file is taken for MNIST.",
    kill=[TRAILING],
)
def data_trailing_bytes_accepted(p):
    parse = p.original(DATA, "parse_idx")

    def parse_idx(raw, name):
        header = 4 + 4 * raw[3] if len(raw) >= 4 else 0
        shape = [int.from_bytes(raw[i : i + 4], "big") for i in range(4, header, 4)]
        return parse(raw[: header + int(np.prod(shape, dtype=object))], name)

    p.patch(DATA, "parse_idx", parse_idx)
