# The two commands of the README, and what they need. Each sets itself up on a fresh machine:
# a virtual environment in .venv, torch first (pinned, override with TORCH_SPEC=...), then the
# package with the extras the target needs.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

# nnU-Net's tests run in a second environment (tests/requirements-nnunet.txt says why): the same
# torch, nnU-Net 2.8.1 without timm and torchvision, this package and pytest.
NNUNET_VENV ?= .venv-nnunet
NNUNET_SPEC ?= nnunetv2==2.8.1 dynamic-network-architectures==0.4.4
NNUNET_PY := $(NNUNET_VENV)/bin/python
NNUNET_PIP := $(NNUNET_PY) -m pip --disable-pip-version-check -q

.PHONY: demo study-demo test bench gpu-check lint clean postgres-server

demo: $(VENV)/.ready-demo
	$(VENV)/bin/lightning-carbon demo

# The study in miniature: nnU-Net 2d on two folds, each forecast to 1000 epochs, then Table 3.
study-demo: $(NNUNET_VENV)/.ready
	$(NNUNET_VENV)/bin/lightning-carbon nnunet demo --out nnunet-study

test: $(VENV)/.ready-dev $(NNUNET_VENV)/.ready postgres-server
	$(PY) -m pytest
	$(NNUNET_PY) -m pytest -m nnunet tests/test_nnunet.py

# The PostgreSQL tests start a throwaway server from Debian's package (tests/postgres_server.py).
# Installed here when missing, as root where apt works. Never fails: without the server, those
# tests skip and say why.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 \
	|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
	|| echo "make: no PostgreSQL server (installing it needs root and apt); its tests will skip"

bench: $(VENV)/.ready-dev $(VENV)/.ready-bench
	$(PY) benchmarks/run_all.py

# On a GPU machine without network: its own Python, this checkout, MONAI's wheel from WHEELS
# (benchmarks/README.md). No virtual environment is made.
GPU_CHECK_OUT ?= benchmarks/out/gpu_check
gpu-check:
	PYTHONPATH=. $(PYTHON) benchmarks/gpu_check.py --out $(GPU_CHECK_OUT) $(if $(WHEELS),--wheels $(WHEELS))

lint: $(VENV)/.ready-dev
	$(VENV)/bin/ruff check lightning_carbon tests benchmarks

$(VENV)/.ready-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e ".[$*]"
	touch $@

$(NNUNET_VENV)/.ready: pyproject.toml tests/requirements-nnunet.txt
	test -x $(NNUNET_PY) || $(PYTHON) -m venv $(NNUNET_VENV)
	$(NNUNET_PIP) install "$(TORCH_SPEC)"
	$(NNUNET_PIP) install -r tests/requirements-nnunet.txt -e ".[test]"
	$(NNUNET_PIP) install --no-deps $(NNUNET_SPEC)
	$(NNUNET_PY) -c "import nnunetv2.run.run_training"
	touch $@

clean:
	rm -rf $(VENV) $(NNUNET_VENV) demo_output nnunet-study .pytest_cache
