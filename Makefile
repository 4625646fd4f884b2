# The two commands of the README:
#   make quickstart   install, build the digits set, train MicroNet-M0, evaluate, export, predict
#   make test         install the test requirements and run the whole test suite (what CI runs)
#   make test-fast    the same without the tests marked slow (pytest.ini), for every edit
# The tests require this project's C++ kernels (ppcls/arch/ops; needs g++): a kernel that does
# not build fails them. Without a compiler, `make test PPCLS_REQUIRE_OPS=0` skips those tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
QS_CONFIG := ppcls/configs/quick_start/MicroNet_M0.yaml

PPCLS_REQUIRE_OPS ?= 1

.PHONY: quickstart test test-fast venv

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)

quickstart: $(PY)
	$(PIP) -r requirements.txt scikit-learn
	$(PY) tools/prepare_quick_start_data.py --out dataset/digits
	$(PY) tools/train.py -c $(QS_CONFIG) -o Global.overwrite=True
	$(PY) tools/eval.py -c $(QS_CONFIG) -o Global.pretrained_model=output/quick_start/MicroNet_M0/best_model
	$(PY) tools/export_model.py -c $(QS_CONFIG) -o Global.pretrained_model=output/quick_start/MicroNet_M0/best_model -o Global.save_inference_dir=inference/quick_start
	$(PY) deploy/python/predict_cls.py -c ppcls/configs/deploy/inference_quick_start.yaml -o Global.infer_imgs=dataset/digits/samples/digit_7.png

test: $(PY)
	$(PIP) -r requirements-test.txt
	PPCLS_REQUIRE_OPS=$(PPCLS_REQUIRE_OPS) $(PY) -m pytest -q tests

test-fast: $(PY)
	$(PIP) -r requirements-test.txt
	PPCLS_REQUIRE_OPS=$(PPCLS_REQUIRE_OPS) $(PY) -m pytest -q -m "not slow" tests
