"""The package's top level: every export resolves, and importing it does not start Keras."""
import subprocess
import sys

import vggcourse


def test_every_export_resolves():
    for name in vggcourse.__all__:
        assert getattr(vggcourse, name) is not None, name
    assert sorted(vggcourse.__all__) == dir(vggcourse)


def test_unknown_name_is_an_attribute_error():
    try:
        vggcourse.Vgg19
    except AttributeError as error:
        assert "Vgg19" in str(error)
    else:
        raise AssertionError("vggcourse.Vgg19 should not exist")


def test_import_is_light():
    code = "import sys, vggcourse; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
