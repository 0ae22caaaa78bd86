// A deliberate thread-safety violation: scripts/check_thread_safety.sh
// requires clang to reject this file, which proves the analysis runs.
#include "presence/base/mutex.h"

namespace presence {

class Unguarded {
 public:
  void Increment() { ++count_; }  // Writes count_ without holding mu_.

 private:
  Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace presence
