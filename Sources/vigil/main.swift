// The host build's entry point; the Embedded build enters through C `main` (CVigil/shim.c).
import VigilAgent

#if canImport(Glibc)
import Glibc
#endif

exit(CLI.main(CommandLine.argc, CommandLine.unsafeArgv))
