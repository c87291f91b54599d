// emu.cc compiles the kernels for the CPU (see emu.h).
#include "emu.h"

emu_dim threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};

#include "../conv.cu"
#include "../dropout.cu"
#include "../elementwise.cu"
#include "../sde.cu"
#include "../shape.cu"
