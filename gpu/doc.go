// Package gpu is the CUDA backend: a device context on its own OS thread, a
// caching memory pool, pinned host buffers, the embedded PTX kernels and
// their launches, cuBLAS (loaded at run time), CUDA graphs, and the engine
// backend that records a plan once into a graph and replays it.
//
// It is the only package that imports gorgonia.org/cu, and all of it but
// the search for cuBLAS (libpath.go) and the packing of kernel arguments
// (args.go) builds only with the tag gpu: cu's init
// ends any process that starts without a GPU, so binaries for machines
// without one are built without the tag.
package gpu
