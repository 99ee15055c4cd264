# CPU emulation of the CUDA execution model (csrc/cuda/emu/cuda_emu.h): the
# same kernel source that nvcc builds also compiles with the C++ compiler and
# runs on CPU threads, so CUDA kernels are tested in CI without a GPU.
#
# include(cmake/cuda_emu.cmake) from the top-level CMakeLists.txt, after
# project(). With -DNERVE_CUDA_EMU=ON it defines:
#   nerve_cuda_emu                      static library: the emulation runtime;
#                                       linking it gives -DNERVE_CUDA_EMU=1 and csrc/ on the include path
#   nerve_cuda_emu_sources(<target> <file.cu>...)
#                                       compiles .cu files as C++ against the emulation into <target>
#                                       (e.g. the test-only module nerve._cuda_emu of issue 16)
# The emulation's own tests (tests/cuda_emu) build what they need themselves
# and need none of this.
option(NERVE_CUDA_EMU "Build the CPU emulation of CUDA (nerve_cuda_emu) for the emulated kernel tests" OFF)

if(NERVE_CUDA_EMU)
  find_package(Threads REQUIRED)
  get_filename_component(_nerve_emu_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  add_library(nerve_cuda_emu STATIC "${_nerve_emu_root}/csrc/cuda/emu/cuda_emu.cpp")
  target_include_directories(nerve_cuda_emu PUBLIC "${_nerve_emu_root}/csrc")
  target_compile_definitions(nerve_cuda_emu PUBLIC NERVE_CUDA_EMU=1)
  # Kernels carry `#pragma unroll`, which the C++ compiler does not know.
  target_compile_options(nerve_cuda_emu PUBLIC -Wno-unknown-pragmas)
  target_link_libraries(nerve_cuda_emu PUBLIC Threads::Threads)
  set_target_properties(nerve_cuda_emu PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # With CUDA's headers, the emulation takes dim3/float4/... and the error codes
  # from them, so kernels may include cuda_fp16.h / cuda_bf16.h.
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_FOUND)
    target_include_directories(nerve_cuda_emu SYSTEM PUBLIC ${CUDAToolkit_INCLUDE_DIRS})
  endif()

  function(nerve_cuda_emu_sources target)
    set_source_files_properties(${ARGN} PROPERTIES LANGUAGE CXX COMPILE_OPTIONS "-xc++")
    target_sources(${target} PRIVATE ${ARGN})
    target_link_libraries(${target} PRIVATE nerve_cuda_emu)
  endfunction()
  message(STATUS "nerve: CUDA emulation library nerve_cuda_emu (CUDA headers: ${CUDAToolkit_FOUND})")
endif()
