// Metrics in the Prometheus text format, served over a minimal HTTP
// endpoint (GET /metrics).
//
//   MetricsRegistry registry;
//   registry.AddGauge("presence_watchers", "Open WatchEvents streams.",
//                     [&hub] { return hub.size(); });
//   auto server = MetricsHttpServer::Start("0.0.0.0:9090", &registry);
//   // curl http://host:9090/metrics
//
// Values are read by callbacks when scraped, so nothing is paid between
// scrapes. Thread-safe.
#ifndef SERVICE_METRICS_METRICS_H_
#define SERVICE_METRICS_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "presence/event.h"

namespace presence {

class MetricsRegistry {
 public:
  // `name` must be a valid Prometheus metric name; counters end in _total.
  void AddCounter(std::string name, std::string help,
                  std::function<double()> value);
  void AddGauge(std::string name, std::string help,
                std::function<double()> value);

  // Returns every metric in the text exposition format.
  std::string Render() const;

 private:
  struct Metric {
    std::string name;
    std::string help;
    const char* type;
    std::function<double()> value;
  };
  mutable std::mutex mu_;
  std::vector<Metric> metrics_;  // Guarded by mu_.
};

// Counts presence events by action; register it as a store listener and
// call Register() to export presence_events_total{action="..."}.
class EventCounter : public EventListener {
 public:
  void OnEvent(const PresenceEvent& event) override;
  void OnEventsInterrupted(const absl::Status& status) override;
  void Register(MetricsRegistry& registry);

 private:
  static constexpr int kTypes = 7;
  std::array<std::atomic<uint64_t>, kTypes> counts_{};
  std::atomic<uint64_t> interruptions_{0};
};

// Serves GET /metrics (anything else is 404) on its own thread.
class MetricsHttpServer {
 public:
  // Listens on host:port (port 0 picks one). `registry` must outlive it.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, const MetricsRegistry* registry);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(int fd, int port, const MetricsRegistry* registry);
  void Serve();

  const int fd_;
  const int port_;
  const MetricsRegistry* const registry_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace presence

#endif  // SERVICE_METRICS_METRICS_H_
