#include "agent/cli.h"

int main(int argc, char** argv) { return sluice::agent::RunCli(argc, argv); }
