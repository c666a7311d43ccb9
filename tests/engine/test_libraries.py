"""Which zygote a run forks from (grader/sandbox/libraries.py): read from the source, never run."""

from grader.sandbox.libraries import imported_names, needs_heavy


def reader(files: dict):
    return files.get


def test_a_numpy_file_goes_light_and_a_heavy_import_anywhere_goes_full():
    assert not needs_heavy("metrics.py", reader({"metrics.py": "import numpy as np\nfrom math import sqrt\n"}))
    lazy = "import numpy as np\ndef plot(x):\n    import matplotlib.pyplot as plt\n    plt.plot(x)\n"
    assert needs_heavy("metrics.py", reader({"metrics.py": lazy}))
    assert needs_heavy("a.py", reader({"a.py": "from torch import nn\n"}))
    assert needs_heavy("a.py", reader({"a.py": "import torchvision.datasets\n"}))


def test_local_modules_are_followed_and_cycles_end():
    files = {"tinynet.py": "from layers import Relu\nimport numpy\n", "layers.py": "import helper\nimport tinynet\n",
             "helper.py": "import sympy\n"}
    assert needs_heavy("tinynet.py", reader(files))
    files["helper.py"] = "import numpy\n"
    assert not needs_heavy("tinynet.py", reader(files))


def test_the_stage_or_its_driver_decides_too():
    light = reader({"l2.py": "import numpy\n"})
    assert needs_heavy("l2.py", light, requires=("torch",))
    assert needs_heavy("l2.py", light, driver="import torch\n")
    assert not needs_heavy("l2.py", light, requires=(), driver="import numpy as np\n")


def test_what_cannot_be_read_statically_goes_full_and_a_syntax_error_light():
    assert needs_heavy("a.py", reader({"a.py": "m = __import__('to' + 'rch')\n"}))
    assert needs_heavy("a.py", reader({"a.py": "x = 1\n" * (1 << 20)}))  # too large to parse: assume the worst
    assert imported_names("def f(:\n") == set()
    assert not needs_heavy("a.py", reader({"a.py": "def f(:\n"}))  # the run reports the error; no library needed
    chain = {f"m{i}.py": f"import m{i + 1}\n" for i in range(40)}
    assert needs_heavy("m0.py", reader(chain))  # past 20 local files: the full server, to be safe


def test_a_file_that_never_names_a_heavy_library_is_read_without_parsing():
    text = "import numpy as np, layers\nfrom helpers.maths import f\n  import os.path\n# import nothing here\n"
    assert imported_names(text) >= {"numpy", "layers", "helpers", "os"}
    assert needs_heavy("a.py", reader({"a.py": text, "helpers.py": "def f():\n    import torch\n"}))
    assert needs_heavy("a.py", reader({"a.py": "import importlib\nm = importlib.import_module('x')\n"}))
