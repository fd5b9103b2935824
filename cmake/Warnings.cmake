# High warnings for our own code only; third-party headers come in through imported targets,
# which CMake treats as SYSTEM includes.
add_library(chalkbot_warnings INTERFACE)
target_compile_options(chalkbot_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion -Wformat=2
  -Wimplicit-fallthrough)
# A unity build includes each .cc into a generated one, so GCC takes a class defined in a .cc
# (with members of types from its anonymous namespace) for one defined in a header.
if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(chalkbot_warnings INTERFACE -Wno-subobject-linkage)
endif()
