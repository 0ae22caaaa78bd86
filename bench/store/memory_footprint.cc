// The memory one (user, channel) membership costs in the memory store,
// counted three ways, against the same baseline as
// bench/memory_per_membership (a std::unordered_map<std::string,
// std::string> of the same channel/user keys, same run):
//
// - heap: mallinfo2's uordblks (bytes in use in malloc's arenas), what
//   memory_per_membership reports. glibc serves allocations of 128 KiB and
//   more with mmap, which uordblks leaves out: large arrays (chunks of the
//   store's arrays, hash tables of many entries) are not in it;
// - heap + mmap: uordblks + hblkhd (bytes in mmapped chunks): every byte
//   malloc handed out;
// - RSS: the growth of the resident set (/proc/self/statm), what the
//   machine pays, malloc's free lists and fragmentation included.
//
//   bazel build -c opt //bench/store:memory_footprint
//   bazel-bin/bench/store/memory_footprint --users=1000000 --channels=10
//
// Target (S3): <= 24 bytes per membership at 10M memberships.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "presence/clock.h"
#include "presence/presence.h"
#include "presence/store/memory/memory_store.h"

ABSL_FLAG(int, users, 1000000, "Users, each present in --channels channels");
ABSL_FLAG(int, channels, 10, "Channels per user (of 1000 channels in all)");

namespace presence {
namespace {

struct Reading {
  double heap;
  double all;
  double rss;
};

Reading Read() {
  const struct mallinfo2 info = mallinfo2();
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return {double(info.uordblks), double(info.uordblks + info.hblkhd),
          double(resident) * sysconf(_SC_PAGESIZE)};
}

Reading Per(const Reading& before, const Reading& after, double n) {
  return {(after.heap - before.heap) / n, (after.all - before.all) / n,
          (after.rss - before.rss) / n};
}

std::string User(int u) { return absl::StrCat("user-", u); }
std::string Channel(int u, int c) {
  return absl::StrCat("room-", (u * 7 + c) % 1000);
}

void Run() {
  const int users = absl::GetFlag(FLAGS_users);
  const int channels = absl::GetFlag(FLAGS_channels);
  const double memberships = double(users) * channels;
  malloc_trim(0);
  const Reading before = Read();
  auto store = NewMemoryStore(MemoryStoreOptions(), Clock::Real());
  Presence presence(store.get(), Limits());
  for (int u = 0; u < users; ++u) {
    HeartbeatRequest request;
    request.user_id = User(u);
    for (int c = 0; c < channels; ++c)
      request.channels.push_back(Channel(u, c));
    if (!presence.Heartbeat(std::move(request)).ok()) std::abort();
  }
  const Reading product = Per(before, Read(), memberships);

  malloc_trim(0);
  const Reading baseline_before = Read();
  auto baseline =
      std::make_unique<std::unordered_map<std::string, std::string>>();
  for (int u = 0; u < users; ++u) {
    for (int c = 0; c < channels; ++c)
      (*baseline)[Channel(u, c) + "/" + User(u)] = "";
  }
  const Reading base = Per(baseline_before, Read(), memberships);
  std::printf("%.0f memberships (%d users x %d channels of 1000)\n",
              memberships, users, channels);
  std::printf(
      "memory store bytes/membership: heap %.1f, heap+mmap %.1f, RSS %.1f\n",
      product.heap, product.all, product.rss);
  std::printf(
      "baseline unordered_map<string,string> bytes/entry: heap %.1f, "
      "heap+mmap %.1f, RSS %.1f\n",
      base.heap, base.all, base.rss);
  std::printf("ratio (heap+mmap): %.2f\n", product.all / base.all);
}

}  // namespace
}  // namespace presence

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  presence::Run();
  return 0;
}
