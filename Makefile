# The two commands: `make demo` and `make test`. Both work on a fresh machine.
.PHONY: demo test lint bench services-start services-stop clean venv

venv:
	scripts/bootstrap.sh

demo: venv
	scripts/demo.sh

test:
	scripts/test.sh

lint: venv
	.venv/bin/ruff check dr_orchestrator tests bench runbooks
	.venv/bin/mypy

bench:
	scripts/bootstrap.sh --services
	scripts/bench.sh

services-start:
	scripts/bootstrap.sh --services
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

clean:
	rm -rf .venv .tools .dro-demo .pytest_cache .mypy_cache .ruff_cache
