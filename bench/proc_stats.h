// What a process has used, from /proc/<pid>/stat and /proc/<pid>/status:
// CPU seconds (user + system, all threads) and resident memory (current and
// peak). Reading a process that is gone gives ok = false.
#ifndef BENCH_PROC_STATS_H_
#define BENCH_PROC_STATS_H_

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace presence::bench {

struct ProcStats {
  bool ok = false;
  double cpu_seconds = 0;  // utime + stime
  int64_t rss_kb = 0;      // VmRSS
  int64_t hwm_kb = 0;      // VmHWM: peak resident set
};

inline ProcStats ReadProcStats(pid_t pid) {
  ProcStats stats;
  const std::string dir = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(dir + "/stat");
    std::string line;
    if (!std::getline(in, line)) return stats;
    // The command name (field 2) may hold spaces: count from after its ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) return stats;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    // Fields 3.. : state(3) ... utime(14) stime(15).
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
      if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    stats.cpu_seconds =
        static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  }
  {
    std::ifstream in(dir + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0)
        stats.rss_kb = std::strtoll(line.c_str() + 6, nullptr, 10);
      if (line.rfind("VmHWM:", 0) == 0)
        stats.hwm_kb = std::strtoll(line.c_str() + 6, nullptr, 10);
    }
  }
  stats.ok = true;
  return stats;
}

// CPU seconds the whole machine spent busy (all cores, every process) since
// boot, from /proc/stat; with the processes' own figures it shows how much
// of a window went to something else (another engineer's build).
inline double MachineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0,
                     irq = 0, softirq = 0, steal = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >>
        softirq >> steal)) {
    return 0;
  }
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         sysconf(_SC_CLK_TCK);
}

}  // namespace presence::bench

#endif  // BENCH_PROC_STATS_H_
