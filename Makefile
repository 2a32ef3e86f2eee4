# The two commands a newcomer runs: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: bootstrap run test test-unit pytest pgtap bench lint clean

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	@$(BIN)/wapipe run

# pytest and the pgTAP suite both run; either failing fails the target.
test: export WAPIPE_BOOTSTRAP_EXTRA += chromium
test: bootstrap
	@rc=0; \
	$(BIN)/python -m pytest || rc=1; \
	$(BIN)/python -m wapipe.testing.pgtap || rc=1; \
	exit $$rc

test-unit: bootstrap
	@$(BIN)/python -m pytest tests/unit

pytest: bootstrap
	@$(BIN)/python -m pytest

pgtap: bootstrap
	@$(BIN)/python -m wapipe.testing.pgtap

bench: bootstrap
	@$(BIN)/python -m bench

lint: bootstrap
	@$(BIN)/ruff check wapipe ingress worker tests bench
	@$(BIN)/mypy

clean:
	-@$(BIN)/wapipe db down 2>/dev/null || true
	rm -rf $(VENV) .wapipe .pytest_cache .mypy_cache .ruff_cache *.egg-info artifacts
