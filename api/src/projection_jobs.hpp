#pragma once
// The rebuilds and rollbacks of read models that the console starts, run by
// `lethe serve` in threads of their own: at most one per projection at a
// time, each with its progress and outcome for GET /operations. The state
// lives in this process: a job stopped with the server (it saves its
// offsets) says so, and resumes when started again.
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lethe/api/server.hpp"

namespace lethe::api {

struct JobStatus {
  std::string projection, action, started_by, started_at, ended_at;
  // starting (being recorded; not shown), running, done, refused, failed,
  // stopped (with the server: only the log says so)
  std::string state = "running";
  double progress = 0;  // 0 to 1, as the rebuild reports it
  std::string message;
};

class ProjectionJobs {
 public:
  explicit ProjectionJobs(ProjectionJob run) : run_(std::move(run)) {}
  ~ProjectionJobs();  // stops every job (each saves its progress) and waits for it
  ProjectionJobs(const ProjectionJobs&) = delete;
  ProjectionJobs& operator=(const ProjectionJobs&) = delete;

  bool available() const { return static_cast<bool>(run_); }
  // Starts the job unless one runs (or starts) for this projection: then
  // false, and record is not called. record() runs first, so that a job runs
  // only once it is on record; if it throws, nothing starts.
  bool start(const std::string& projection, const std::string& action, const std::string& by,
             const std::function<void()>& record);
  std::vector<JobStatus> statuses() const;

 private:
  void run(const std::string& projection, const std::string& action);

  ProjectionJob run_;
  mutable std::mutex mutex_;
  std::map<std::string, JobStatus> jobs_;       // the last job of each projection
  std::map<std::string, std::thread> threads_;  // and its thread
  std::atomic<bool> stop_{false};
};

}  // namespace lethe::api
