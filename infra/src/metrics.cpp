#include "lethe/infra/metrics.hpp"

#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

#include "lethe/infra/errors.hpp"

namespace lethe::infra {

namespace {
std::shared_ptr<prometheus::Registry> registry() {
  static const auto r = std::make_shared<prometheus::Registry>();
  return r;
}
}  // namespace

prometheus::Registry& metrics() {
  return *registry();
}

prometheus::Family<prometheus::Counter>& counter_family(const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(metrics());
}

prometheus::Family<prometheus::Gauge>& gauge_family(const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(metrics());
}

prometheus::Family<prometheus::Histogram>& histogram_family(const std::string& name, const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(metrics());
}

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

void serve_metrics(const std::string& address) {
  static std::mutex mutex;
  static std::unique_ptr<prometheus::Exposer> exposer;
  const std::lock_guard lock(mutex);
  if (exposer) throw Misconfigured("metrics are already served");
  try {
    exposer = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    throw Misconfigured("cannot serve metrics on " + address + ": " + e.what());
  }
  exposer->RegisterCollectable(registry());
  spdlog::info("metrics: http://{}/metrics", address);
}

}  // namespace lethe::infra
