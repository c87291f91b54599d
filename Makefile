# Two commands from a fresh Debian machine: `make setup`, then `make test`.
GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup build test bench lint

# setup installs what a fresh machine lacks (OpenBLAS for CPU matrix
# products) and fetches the Go modules; it does nothing on a second run.
setup:
	@dpkg -s libopenblas-dev >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev; }
	$(GO) mod download

build:
	$(GO) build ./...

test:
	$(GO) test ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# bench times one training step (forward and backward) of the mnist U-Net.
bench:
	$(GO) run ./cmd/bench --model mnist --device cpu --batch 32 --steps 5
	$(GO) run ./cmd/bench --model mnist --device cpu --batch 128 --steps 3
