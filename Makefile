# CycleHand: `make setup`, `make test`, `make textures`, `make demo`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CACHE := .cache
export CYCLEHAND_CACHE_DIR ?= $(abspath $(CACHE))

.PHONY: setup test demo textures hand-cache clean-cache bench bench-render experiment realism-env realism device-wheels

setup: $(STAMP) $(CACHE)/hand.stamp

# Reinstall only when the project's dependency list changes: a second `make setup` is a no-op.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "need Python 3.11 (bpy 4.5 wheels exist for 3.11 only); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,ray]'
	touch $@

# The anny hand's first build takes about a minute; keep only the compact model it loads from.
$(CACHE)/hand.stamp: $(STAMP)
	$(PY) -m generator.hand.anny_backend --build-cache
	touch $@

hand-cache: $(CACHE)/hand.stamp

test: setup
	$(PY) -m pytest -q

# Procedural skin maps for MST 1-10 x 3 individuals at 2048 px; a re-run with nothing changed does nothing.
textures: setup
	$(VENV)/bin/cyclehand-gen textures --out textures

# The main job end to end on the embedded defaults (anny hand, bundled HDRIs, built textures):
# a small run of render_jobs/default.toml, a contact sheet of it, and a picture of sampled poses.
DEMO_VIEWS ?= 8
demo: setup textures
	$(VENV)/bin/cyclehand-gen poses --count 8 --seed 0 --out out/demo/poses.npz --picture out/demo/poses.png
	$(VENV)/bin/cyclehand-gen render --job render_jobs/default.toml --views $(DEMO_VIEWS) --out out/demo/shards
	$(VENV)/bin/cyclehand-gen preview out/demo/shards --out out/demo/preview.png
	@echo "demo: shards in out/demo/shards, pictures out/demo/preview.png and out/demo/poses.png"

bench: setup
	$(PY) benchmarks/pose_sampler.py

# Cycles views/hour, overhead ratio and PSNR vs a 1024-spp reference per preset, 256x256 (docs/RENDERING.md).
bench-render: setup
	$(PY) benchmarks/render_throughput.py --views 10 --ref-views 3 --ref-cache .cache/render_reference.npz --out benchmarks/render_throughput.json

# Cycle loss vs supervised at a fixed label budget: renders (or resumes) train/test/hard splits,
# trains three models, writes docs/RESULTS.md. EXPERIMENT_ARGS e.g. --shards-from DIR --seeds 0,1,2
experiment: setup
	$(PY) -m trainer.experiment $(EXPERIMENT_ARGS)

# The realism judge's own environment: MediaPipe Hands 0.10.14 pins numpy<2 and an old protobuf, so
# it never enters .venv; `cyclehand-gen audit` runs it as a subprocess (docs/TEXTURES.md).
REALISM_VENV := .venv-realism
realism-env: $(REALISM_VENV)/.installed

$(REALISM_VENV)/.installed:
	test -x $(REALISM_VENV)/bin/python || $(PYTHON) -m venv $(REALISM_VENV)
	$(REALISM_VENV)/bin/python -m pip install --quiet --no-deps mediapipe==0.10.14
	$(REALISM_VENV)/bin/python -m pip install --quiet "numpy<2" "protobuf>=4.25.3,<5" absl-py attrs flatbuffers \
		"opencv-contrib-python-headless<4.11" matplotlib
	touch $@

# MediaPipe on REALISM_VIEWS pairs of the default job (renders into out/realism, resuming).
REALISM_VIEWS ?= 120
REALISM_ARGS ?=
realism: setup textures realism-env
	$(PY) benchmarks/realism.py --views $(REALISM_VIEWS) $(REALISM_ARGS)

# For a lent GPU machine (Python 3.12, torch, no package index; docs/TRAINING.md "On a lent GPU"):
# the trainer's two dependencies its image lacks, as wheels in .whl/ (ignored; carry it).
device-wheels: setup
	rm -rf .whl && $(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d .whl \
		$$($(PY) -m pip list --format=freeze | grep -iE '^(braceexpand|msgspec)==')
	@ls .whl

clean-cache:
	rm -rf $(CACHE)
