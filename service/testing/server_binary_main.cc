// main() of the tests that run the presence_server binary: they are given
// its path as their only argument ($(rootpath //service:presence_server)).
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "service/testing/server_process.h"

namespace presence {
namespace {

std::string* binary_path = new std::string();

}  // namespace

const std::string& ServerBinaryPath() { return *binary_path; }

}  // namespace presence

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <path to presence_server>\n", argv[0]);
    return 2;
  }
  *presence::binary_path = argv[1];
  return RUN_ALL_TESTS();
}
