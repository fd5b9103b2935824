# High warnings for our own code only; third-party headers come in through imported targets,
# which CMake treats as SYSTEM includes.
add_library(chalkbot_warnings INTERFACE)
target_compile_options(chalkbot_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion -Wformat=2
  -Wimplicit-fallthrough)
