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
