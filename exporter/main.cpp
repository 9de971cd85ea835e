#include "exporter/app/app.h"

int main(int argc, char** argv) { return vpbx::app::run(argc, argv); }
