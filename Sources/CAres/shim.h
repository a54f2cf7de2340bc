#include <ares.h>

/// ARES_LIB_INIT_ALL is a macro over a macro, which Swift does not import.
static inline int vigil_ares_library_init(void) { return ares_library_init(ARES_LIB_INIT_ALL); }
