#pragma once
// The files domain: metadata of stored files (name, size, content type,
// checksum, owner); the bytes live elsewhere. Pure: ids come with the
// commands; the owner is the actor who records the file.
//
// Stream: a file is file-<id>. The name is not marked personal (like
// content, it is kept by default); owner_id names the person.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::files {

inline constexpr std::size_t kMaxName = 255;
inline constexpr std::size_t kMaxContentType = 255;
// The largest size recorded, in bytes (10 TB).
inline constexpr std::int64_t kMaxSize = 10'000'000'000'000;

// Stream name.
std::string file_stream(std::string_view file_id);

// "type/subtype" (RFC 6838 restricted names: a letter or digit, then letters,
// digits and !#$&-^_.+), no parameters; at most kMaxContentType bytes.
bool is_content_type(std::string_view s) noexcept;
// "sha256:" and 64 lowercase hexadecimal digits.
bool is_checksum(std::string_view s) noexcept;

// ---- Events (see lethe/domain/event_fields.hpp). ----
struct FileRecorded {
  LETHE_EVENT("file.recorded");
  std::string file_id, owner_id, name;
  std::int64_t size = 0;  // bytes
  std::string content_type, checksum;
  static constexpr auto fields() {
    using E = FileRecorded;
    return std::array<FieldSpec<E>, 6>{{{"file_id", &E::file_id},
                                        {"owner_id", &E::owner_id},
                                        {"name", &E::name},
                                        {"size", &E::size},
                                        {"content_type", &E::content_type},
                                        {"checksum", &E::checksum}}};
  }
};
struct FileDeleted {
  LETHE_EVENT("file.deleted");
  std::string file_id, owner_id;
  static constexpr auto fields() {
    using E = FileDeleted;
    return std::array<FieldSpec<E>, 2>{{{"file_id", &E::file_id}, {"owner_id", &E::owner_id}}};
  }
};

using Event = std::variant<FileRecorded, FileDeleted>;

// The files domain as the registry knows it: every event on the files topic,
// read by the files projection.
const DomainSpec& spec();
std::vector<std::string_view> event_types();

// ---- Commands ----
struct RecordFile {
  std::string file_id, name;  // the owner is the actor
  std::int64_t size = 0;
  std::string content_type, checksum;
};
struct DeleteFile {
  std::string file_id;
};
using Command = std::variant<RecordFile, DeleteFile>;

struct File {
  bool exists = false;
  bool deleted = false;
  std::string file_id, owner_id, name, content_type, checksum;
  std::int64_t size = 0;
  std::int64_t version = 0;  // number of events folded
};

// The rules (auditors and anonymous callers change nothing, always
// forbidden):
// - record: any signed-in user, who becomes the owner; a file id is recorded
//   once (already_exists); name 1..255 bytes without '/' or NUL; size
//   0..kMaxSize; content type and checksum in the shapes above;
// - delete: the owner, or an admin or owner role; twice is a conflict.
Result<std::vector<Event>> decide(const File& state, const Command& command, const users::Actor& actor);
File evolve(File state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::files
