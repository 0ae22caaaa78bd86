// Metrics in the Prometheus text format, served over a minimal HTTP
// endpoint (GET /metrics).
//
//   MetricsRegistry registry;
//   registry.AddGauge("presence_watchers", "Open WatchEvents streams.",
//                     [&fanout] { return fanout.size(); });
//   registry.AddCollector([&](MetricsWriter& out) {  // Labelled families.
//     out.Family("presence_watchers_by_transport", "gauge", "Open watches.");
//     for (const auto& [transport, n] : fanout.SizeByTransport())
//       out.Sample("presence_watchers_by_transport",
//                  {{"transport", transport}}, n);
//   });
//   auto server = MetricsHttpServer::Start("0.0.0.0:9090", &registry);
//   // curl http://host:9090/metrics
//
// Values are read by callbacks when scraped, so nothing is paid between
// scrapes. Names follow Prometheus' conventions: base units (_seconds,
// _bytes), counters end in _total, and no label takes a value that grows
// with channel or user names. Thread-safe.
#ifndef SERVICE_METRICS_METRICS_H_
#define SERVICE_METRICS_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "presence/base/mutex.h"
#include "presence/event.h"
#include "service/metrics/histogram.h"
#include "service/tls/ssl_server_context.h"

namespace presence {

// Writes metric families in the text exposition format; handed to
// collectors at scrape time.
class MetricsWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Starts a family: its # HELP and # TYPE lines. `type` is "counter",
  // "gauge" or "histogram".
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help);

  // One sample `name{labels} value` (label values are escaped).
  void Sample(absl::string_view name, const Labels& labels, double value);

  // A histogram's _bucket, _sum and _count samples.
  void HistogramSamples(absl::string_view family, const Labels& labels,
                        const std::vector<double>& bounds,
                        const Histogram::Snapshot& snapshot);

  std::string& text() { return text_; }

 private:
  std::string text_;
};

class MetricsRegistry {
 public:
  // `name` must be a valid Prometheus metric name; counters end in _total.
  void AddCounter(std::string name, std::string help,
                  std::function<double()> value);
  void AddGauge(std::string name, std::string help,
                std::function<double()> value);

  // Adds a callback that writes whole families at scrape time (labelled
  // series whose label values are only known then, histograms).
  void AddCollector(std::function<void(MetricsWriter&)> collect);

  // Adds an unlabelled histogram family.
  void AddHistogram(std::string name, std::string help,
                    const Histogram* histogram);

  // Returns every metric in the text exposition format.
  std::string Render() const;

 private:
  struct Metric {
    std::string name;
    std::string help;
    const char* type;
    std::function<double()> value;  // Null for a collector.
    std::function<void(MetricsWriter&)> collect;
  };
  mutable Mutex mu_;
  std::vector<Metric> metrics_ ABSL_GUARDED_BY(mu_);
};

// Counts presence events by action; register it as a store listener and
// call Register() to export presence_events_total{action="..."}, and the
// feed's interruptions: presence_event_feed_interruptions_total (the feed
// broke) and presence_event_stream_gaps_total (events lost: DATA_LOSS).
//
// It also observes how late timeouts come: for each timeout event that
// carries its deadline (PresenceEvent::deadline), the time from the
// deadline to the event, exported as presence_timeout_lag_seconds. Only
// timeouts sent one by one count: those of channels in interval mode travel
// in INTERVAL events, without deadlines.
class EventCounter : public EventListener {
 public:
  void OnEvent(const PresenceEvent& event) override;
  void OnEventsInterrupted(const absl::Status& status) override;
  void Register(MetricsRegistry& registry);

  // Seconds from a timeout's deadline to its event.
  const Histogram& timeout_lag() const { return timeout_lag_; }

 private:
  static constexpr int kTypes = 7;
  std::array<std::atomic<uint64_t>, kTypes> counts_{};
  std::atomic<uint64_t> interruptions_{0};
  std::atomic<uint64_t> stream_gaps_{0};  // Interruptions with DATA_LOSS.
  // 1 ms to about 33 s.
  Histogram timeout_lag_{Histogram::ExponentialBounds(0.001, 2, 16)};
};

// Serves GET /metrics (anything else is 404) on its own thread, over plain
// HTTP or, given a TLS context, HTTPS.
class MetricsHttpServer {
 public:
  // Listens on host:port (port 0 picks one). `registry`, and `tls` when not
  // null, must outlive it.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, const MetricsRegistry* registry,
      SslServerContext* tls = nullptr);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(int fd, int port, const MetricsRegistry* registry,
                    SslServerContext* tls);
  void Serve();
  // Answers one request on an accepted connection.
  void Answer(int client);

  const int fd_;
  const int port_;
  const MetricsRegistry* const registry_;
  SslServerContext* const tls_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace presence

#endif  // SERVICE_METRICS_METRICS_H_
