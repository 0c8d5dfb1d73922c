# Convenience targets; the scripts are the source of truth (they also run without make).
.PHONY: serve test build bench
serve:
	scripts/serve.sh
test:
	scripts/test.sh
build:
	swift build -c release --product gantry
bench:
	bench/host.sh
