// Device queries for nerve._cuda.
#pragma once

namespace nerve::cuda {

// Number of visible CUDA devices (0 when none or no driver).
int device_count();

}  // namespace nerve::cuda
