# The two commands of the README, and a few conveniences.
#   make run   install what is missing, build, run a gateway with a simulated fleet
#   make test  install what is missing, build, run the whole test suite
PRESET ?= release
JOBS ?= $(shell nproc)

.PHONY: run test build deps clean

deps:
	deploy/install-deps.sh

build: deps
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	TINYFLEET_BUILD=build/$(PRESET) deploy/run-demo.sh

test: build
	ctest --preset $(PRESET) -j $(JOBS)

clean:
	rm -rf build
