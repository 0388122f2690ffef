// tandem: the Tandem command-line client (linstor client grammar).
#include "cli/cli.h"

int main(int argc, char** argv) { return tandem::cli::Main(argc, argv); }
