// `vigil-centre`'s entry point: a host build only, never Embedded (Scripts/build-embedded
// builds the board's `vigil` alone).
import VigilCentre

#if canImport(Glibc)
import Glibc
#endif

exit(CentreCLI.main(CommandLine.argc, CommandLine.unsafeArgv))
