# The two README commands: `make demo` (a simulated card answers) and `make test` (the whole suite).
.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/cardsmith info

test:
	bash scripts/test.sh

clean:
	ant -q clean
	rm -rf .venv
