"""vggcourse: the 2016 fast.ai course's VGG16 helpers, on Keras 3 and Python 3.

    from vggcourse import Vgg16
    vgg = Vgg16()
    batches = vgg.get_batches("data/dogscats/train", batch_size=64)
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
