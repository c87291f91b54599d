// logistic.cc compiles kernels/logistic.cu for the CPU, apart from emu.cc
// so that the kernel family stays in a file of its own.
#include "emu.h"

#include "../logistic.cu"
