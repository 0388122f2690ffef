// tandemadm: administer Tandem resources like drbdadm (src/adm).
#include "adm/tandemadm.h"

int main(int argc, char** argv) { return tandem::adm::RunTandemadm(argc, argv); }
