#include "projection_jobs.hpp"

#include <spdlog/spdlog.h>

#include "lethe/infra/ids.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::api {

ProjectionJobs::~ProjectionJobs() {
  stop_ = true;
  for (auto& [name, t] : threads_)
    if (t.joinable()) t.join();
}

bool ProjectionJobs::start(const std::string& projection, const std::string& action, const std::string& by,
                           const std::function<void()>& record) {
  {
    // Claimed under the lock, recorded outside it: the record is a write to
    // PostgreSQL, and GET /operations and the jobs' progress must not wait
    // on it.
    const std::lock_guard lock(mutex_);
    if (const auto it = jobs_.find(projection);
        it != jobs_.end() && (it->second.state == "running" || it->second.state == "starting"))
      return false;
    jobs_[projection] = JobStatus{projection, action, by, infra::utc_now(), "", "starting", 0, ""};
  }
  const auto forget = [&] {
    const std::lock_guard lock(mutex_);
    jobs_.erase(projection);
  };
  try {
    record();
  } catch (...) {
    forget();
    throw;
  }
  const std::lock_guard lock(mutex_);
  // The thread of this projection's last job has ended (its state says so):
  // joined before its slot takes the new one.
  if (auto& previous = threads_[projection]; previous.joinable()) previous.join();
  try {
    threads_[projection] = std::thread([this, projection, action] { run(projection, action); });
  } catch (...) {
    jobs_.erase(projection);
    throw;
  }
  jobs_[projection].state = "running";
  spdlog::info("{} {}: started from the console by {}", action, projection, by);
  return true;
}

void ProjectionJobs::run(const std::string& projection, const std::string& action) {
  const auto progress = [&](double done) {
    const std::lock_guard lock(mutex_);
    jobs_[projection].progress = done;
  };
  JobOutcome outcome;
  std::string state;
  try {
    outcome = run_(projection, action, progress, stop_);
    state = outcome.done ? "done" : stop_ ? "stopped" : "refused";
  } catch (const std::exception& e) {
    state = "failed";
    outcome.message = infra::first_line(e.what());
  }
  // Only at the server's stop, so only the log says so.
  if (state == "stopped") outcome.message = "stopped with lethe serve; its offsets are saved: start it again to resume";
  spdlog::info("{} {}: {}{}{}", action, projection, state, outcome.message.empty() ? "" : ": ", outcome.message);
  const std::lock_guard lock(mutex_);
  auto& job = jobs_[projection];
  job.state = state;
  job.message = outcome.message;
  job.ended_at = infra::utc_now();
  if (state == "done") job.progress = 1;
}

std::vector<JobStatus> ProjectionJobs::statuses() const {
  const std::lock_guard lock(mutex_);
  std::vector<JobStatus> out;
  for (const auto& [name, job] : jobs_)
    if (job.state != "starting") out.push_back(job);
  return out;
}

}  // namespace lethe::api
