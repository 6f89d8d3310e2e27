"""The machine's float32 matmul rate, and the FLOPs of a Keras model's forward pass.

    .venv/bin/python bench/flops.py                 # matmul GFLOP/s, VGG16's GFLOP per image
    .venv/bin/python bench/flops.py --n 2048 4096 --repeats 10

Units: a multiply-add counts as 2 FLOPs on both sides. An n x n by n x n matmul is 2 n^3 FLOPs; a
3x3 convolution with `cin` inputs and `cout` outputs is 2 * 9 * cin * cout FLOPs per output pixel.
VGG16 at 224x224 is 15.47 G multiply-adds (the "15.5 GFLOPs" usually quoted, e.g. by torchvision,
counts multiply-adds), that is 30.9 GFLOP in these units.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def matmul_gflops(n=2048, repeats=10):
    """Best rate (GFLOP/s) of an n x n float32 matmul with `keras.ops` on the current backend."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.random((n, n), np.float32))
    b = keras.ops.convert_to_tensor(rng.random((n, n), np.float32))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def model_flops(model):
    """FLOPs of one image through `model` (Conv2D and Dense layers; the rest is negligible)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += model_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = layer.kernel.shape
            total += 2 * cin * cout
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    import keras

    for n in args.n:
        print(f"matmul {n}x{n} float32 ({keras.backend.backend()}): "
              f"{matmul_gflops(n, args.repeats):.1f} GFLOP/s (best of {args.repeats})")
    vgg = keras.applications.VGG16(weights=None, input_shape=(args.size, args.size, 3))
    print(f"VGG16 at {args.size}x{args.size}: {model_flops(vgg) / 1e9:.2f} GFLOP per image "
          f"({model_flops(vgg) / 2e9:.2f} G multiply-adds)")


if __name__ == "__main__":
    main()
