# The two commands of the README. Both install what they need and are safe to re-run.
.PHONY: up test bench

up:    ## start waza on the embedded default
	scripts/up.sh

test:  ## lint, type-check and run every test on SQLite and on PostgreSQL
	scripts/test.sh

bench: ## performance benchmarks (see benchmarks/README.md)
	scripts/setup.sh && .venv/bin/python -m benchmarks.api_overhead
