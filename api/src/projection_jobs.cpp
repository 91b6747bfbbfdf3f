#include "projection_jobs.hpp"

#include <spdlog/spdlog.h>

#include "lethe/infra/ids.hpp"

namespace lethe::api {

ProjectionJobs::~ProjectionJobs() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

bool ProjectionJobs::start(const std::string& projection, const std::string& action, const std::string& by,
                           const std::function<void()>& record) {
  const std::lock_guard lock(mutex_);
  if (const auto it = jobs_.find(projection); it != jobs_.end() && it->second.state == "running") return false;
  record();
  jobs_[projection] = JobStatus{projection, action, by, infra::utc_now(), "", "running", 0, ""};
  spdlog::info("{} {}: started from the console by {}", action, projection, by);
  threads_.emplace_back([this, projection, action] {
    const auto progress = [&](double done) {
      const std::lock_guard l(mutex_);
      jobs_[projection].progress = done;
    };
    JobOutcome outcome;
    std::string state;
    try {
      outcome = run_(projection, action, progress, stop_);
      state = stop_ ? "stopped" : outcome.done ? "done" : "refused";
    } catch (const std::exception& e) {
      state = "failed";
      outcome.message = e.what();
    }
    if (state == "stopped")
      outcome.message = "stopped with lethe serve; its offsets are saved: start it again to resume";
    spdlog::info("{} {}: {}{}{}", action, projection, state, outcome.message.empty() ? "" : ": ", outcome.message);
    const std::lock_guard l(mutex_);
    auto& job = jobs_[projection];
    job.state = state;
    job.message = outcome.message;
    job.ended_at = infra::utc_now();
    if (state == "done") job.progress = 1;
  });
  return true;
}

std::vector<JobStatus> ProjectionJobs::statuses() const {
  const std::lock_guard lock(mutex_);
  std::vector<JobStatus> out;
  for (const auto& [name, job] : jobs_) out.push_back(job);
  return out;
}

}  // namespace lethe::api
