# Every third-party library is found here, once, as an imported target (SYSTEM includes).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(SQLite3 REQUIRED)
# Asio + Beast for the admin HTTP server (Debian: libboost1.81-dev; header-only parts).
find_package(Boost 1.81 REQUIRED)
# OpenSSL: checking the SIP TLS certificate and key at start-up (sofia-sip does the TLS itself).
find_package(OpenSSL REQUIRED)

pkg_check_modules(SOFIA REQUIRED IMPORTED_TARGET sofia-sip-ua)
pkg_check_modules(SPANDSP REQUIRED IMPORTED_TARGET spandsp)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)  # the store shared by several nodes
pkg_check_modules(SPEEXDSP REQUIRED IMPORTED_TARGET speexdsp)
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(WEBRTC_APM REQUIRED IMPORTED_TARGET webrtc-audio-processing)
pkg_check_modules(SRTP2 REQUIRED IMPORTED_TARGET libsrtp2)  # SDES-SRTP media (media.srtp)
pkg_check_modules(OPUS REQUIRED IMPORTED_TARGET opus)  # wideband calls (media.codecs)
# Debian's sphinxbase.pc names an include dir that does not exist; keep only the real ones.
pkg_check_modules(POCKETSPHINX REQUIRED pocketsphinx sphinxbase)
set(pocketsphinx_includes "")
foreach(dir ${POCKETSPHINX_INCLUDE_DIRS})
  if(IS_DIRECTORY "${dir}")
    list(APPEND pocketsphinx_includes "${dir}")
  endif()
endforeach()
add_library(pocketsphinx::pocketsphinx INTERFACE IMPORTED)
target_include_directories(pocketsphinx::pocketsphinx SYSTEM INTERFACE ${pocketsphinx_includes})
target_link_libraries(pocketsphinx::pocketsphinx INTERFACE ${POCKETSPHINX_LINK_LIBRARIES})

# flite ships no pkg-config file.
find_path(FLITE_INCLUDE_DIR flite/flite.h REQUIRED)
find_library(FLITE_LIB flite REQUIRED)
find_library(FLITE_USENGLISH_LIB flite_usenglish REQUIRED)
find_library(FLITE_CMULEX_LIB flite_cmulex REQUIRED)
find_library(FLITE_SLT_LIB flite_cmu_us_slt REQUIRED)
add_library(flite::flite INTERFACE IMPORTED)
target_include_directories(flite::flite SYSTEM INTERFACE ${FLITE_INCLUDE_DIR})
target_link_libraries(flite::flite INTERFACE
  ${FLITE_SLT_LIB} ${FLITE_USENGLISH_LIB} ${FLITE_CMULEX_LIB} ${FLITE_LIB} m)

if(CHALKBOT_WITH_ESPEAK)
  pkg_check_modules(ESPEAK_NG REQUIRED IMPORTED_TARGET espeak-ng)
endif()
