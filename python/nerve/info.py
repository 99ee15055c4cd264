"""``nerve.info()``: what this install is and what it runs on."""
import platform


def info_dict():
    import numpy as np

    from nerve import __version__, _C, cuda
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "nerve": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": cpu,
        "isa": _C.isa(),
        "best_isa": _C.best_isa(),
        "openmp_threads": _C.get_num_threads(),
        "cuda_kernels_built": cuda.kernels_built(),
        "gpu_available": cuda.is_available(),
        "gpu_note": cuda.unavailable_reason() or f"{cuda.device_count()} device(s)",
    }


def info(file=None):
    """Print the version, the SIMD variant picked, OpenMP threads and CUDA status."""
    for k, v in info_dict().items():
        print(f"{k:>20}: {v}", file=file)
