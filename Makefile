# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-all install lint bench new-project clean redis-up redis-down pretrained

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

# `make demo TRAIN_MINUTES=5` also trains (TorchRL, vectorized env) and ranks that policy.
TRAIN_MINUTES ?= 0
demo: $(STAMP)
	$(BIN)/python -m powergrid.demo --train-minutes $(TRAIN_MINUTES)

test: $(STAMP)
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow; rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests collected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/bench_powerflow.py
	$(BIN)/python bench/bench_env.py
	$(BIN)/python bench/bench_broker.py
	$(BIN)/python bench/bench_oracle.py

# Rebuild the bundled policy used by `make demo` (10 minutes of TorchRL MAPPO-Lag on 2 cores).
PRETRAIN_MINUTES ?= 10
pretrained: $(STAMP)
	$(BIN)/python bench/bench_training.py --trainer torchrl --minutes $(PRETRAIN_MINUTES) --out runs/pretrained
	$(BIN)/python -m powergrid.pretrained export $$(ls -d runs/pretrained/mappo-lag-*/checkpoints/final | tail -1) ieee34_ieee13 mappo-lag

NAME ?= my_case_study
DOMAIN ?= mydomain
new-project: $(STAMP)
	$(BIN)/python -m heron.scaffold --name $(NAME) --domain $(DOMAIN)

clean:
	rm -rf $(VENV) build *.egg-info

REDIS_PORT ?= 6379
REDIS_DIR ?= .redis
REDIS_ARGS ?= --appendonly yes

redis-up:  ## local redis-server on 127.0.0.1:$(REDIS_PORT), password per run (installs it if missing)
	bash scripts/redis_service.sh start $(REDIS_PORT) $(REDIS_DIR) $(REDIS_ARGS)
	@echo "redis_url: $$(bash scripts/redis_service.sh url $(REDIS_DIR))   (again: bash scripts/redis_service.sh url $(REDIS_DIR); stop: make redis-down)"

redis-down:
	bash scripts/redis_service.sh stop $(REDIS_DIR)
