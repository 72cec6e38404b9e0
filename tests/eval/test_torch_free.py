"""fuse-eval must install and import without torch (``pip install fuse-eval`` stays light)."""

import importlib.util
import os

import pytest

from fuse_test_support import fuse_modules_after_import


def test_importing_fuse_eval_does_not_import_torch() -> None:
    assert not {"torch", "lightning"} & fuse_modules_after_import("eval")


@pytest.mark.skipif(os.environ.get("FUSE_ISOLATED_ENV") != "1", reason="only meaningful in nox's per-package venv")
def test_torch_is_not_installed_in_the_eval_environment() -> None:
    # nox installs fuse-eval with only its declared dependencies; torch must not come along.
    assert importlib.util.find_spec("torch") is None


def test_running_an_evaluation_keeps_torch_out() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from fuse.eval import CI, EvaluatorDefault, MetricAUCROC\n"
        "df = pd.DataFrame({'id': range(8), 'p': [.1, .9, .3, .7, .2, .8, .4, .6], 't': [0, 1, 0, 1, 0, 1, 1, 0]})\n"
        "r = EvaluatorDefault().eval(None, df, {'auc': CI(MetricAUCROC(pred='p', target='t'), 't', 50)})\n"
        "print(r['metrics.auc.org'], 'torch' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert output == ["0.9375", "False"]
