// EventRecorder: an EventListener for tests that records what it receives.
//
//   EventRecorder events;
//   store->AddListener(&events);
//   ...
//   EXPECT_THAT(events.Take(), SizeIs(2));
#ifndef PRESENCE_TESTING_EVENT_RECORDER_H_
#define PRESENCE_TESTING_EVENT_RECORDER_H_

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "presence/base/mutex.h"
#include "presence/event.h"

namespace presence {

// Thread-safe.
class EventRecorder : public EventListener {
 public:
  void OnEvent(const PresenceEvent& event) override {
    MutexLock lock(&mu_);
    events_.push_back(event);
  }

  void OnGroupChange(const GroupChange& change) override {
    MutexLock lock(&mu_);
    group_changes_.push_back(change);
  }

  // Returns the events recorded since the last call, and forgets them.
  std::vector<PresenceEvent> Take() {
    MutexLock lock(&mu_);
    return std::exchange(events_, {});
  }

  // Returns the group changes recorded since the last call, and forgets them.
  std::vector<GroupChange> TakeGroupChanges() {
    MutexLock lock(&mu_);
    return std::exchange(group_changes_, {});
  }

 private:
  Mutex mu_;
  std::vector<PresenceEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<GroupChange> group_changes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace presence

#endif  // PRESENCE_TESTING_EVENT_RECORDER_H_
