# Entry points; each target runs one script (see README.md).
.PHONY: run test bench chaos

run:
	./scripts/run

test:
	./scripts/test

bench:
	./bench/run.sh

chaos:
	./chaos/run.sh
