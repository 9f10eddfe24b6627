PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run simulate test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	CITYOS_IOT_MQTT_URL=$${CITYOS_IOT_MQTT_URL-mqtt://127.0.0.1:1883} \
	$(BIN)/cityos serve --port 1026 --database sqlite:///var/cityos.db --demo

simulate: $(STAMP)
	$(BIN)/cityos iot simulate --url mqtt://127.0.0.1:1883 --rate 5 --duration 600

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
