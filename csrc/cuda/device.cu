// Device queries for nerve._cuda.
#include "cuda/runtime.cuh"

#include "cuda/device.cuh"

namespace nerve::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

}  // namespace nerve::cuda
