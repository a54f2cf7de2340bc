// The board's binary only: Embedded Swift's String compares and hashes text under canonical
// equivalence, which pulls in the stdlib's normalization tables (30 KB of the 512 KB budget on
// aarch64). Vigil's text is identifiers, topics, URLs, passwords and JSON: nothing in it is
// meant to match another spelling of the same characters (a password must not), and
// `Names.isSafeName` keeps ids and names ASCII. These definitions stand in for the stdlib's
// (the linker then leaves its UnicodeNormalization member out): every scalar is its own normal
// form, so String equality and hashing are by Unicode scalars. The host build keeps the
// stdlib's own; only Scripts/build-embedded defines VIGIL_EMBEDDED_MAIN.
#ifdef VIGIL_EMBEDDED_MAIN
#include <stdint.h>

// Canonical combining class 0, NFC and NFD quick checks "yes": nothing to normalize.
uint16_t _swift_stdlib_getNormData(uint32_t scalar) {
  (void)scalar;
  return 0;
}

static const uint8_t no_decompositions[1] = {0};
const uint8_t *const _swift_stdlib_nfd_decompositions = no_decompositions;

// No scalar has a decomposition, and no pair composes.
uint32_t _swift_stdlib_getDecompositionEntry(uint32_t scalar) {
  (void)scalar;
  return UINT32_MAX;
}

uint32_t _swift_stdlib_getComposition(uint32_t x, uint32_t y) {
  (void)x;
  (void)y;
  return UINT32_MAX;
}
#endif
