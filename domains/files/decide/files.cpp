#include "files.hpp"

#include <algorithm>

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::files {

namespace {

using checks::overloaded;
using users::Actor;
using Decision = Result<std::vector<Event>>;

constexpr auto kEventTypes = codec::event_specs<Event>("files");
constexpr std::string_view kProjections[] = {"files"};
constexpr TopicSpec kTopics[] = {{"files", 3, "file metadata"}};
constexpr std::string_view kChecksumPrefix = "sha256:";
constexpr std::size_t kMaxRestrictedName = 127;  // RFC 6838, 4.2

Decision one(Event e) {
  return std::vector<Event>{std::move(e)};
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 6838 restricted-name: a letter or digit, then up to 126 of letters,
// digits and !#$&-^_.+
bool is_restricted_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxRestrictedName || !is_alnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
  });
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"files", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string file_stream(std::string_view file_id) {
  return "file-" + std::string(file_id);
}

bool is_content_type(std::string_view s) noexcept {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos || s.size() > kMaxContentType) return false;
  return is_restricted_name(s.substr(0, slash)) && is_restricted_name(s.substr(slash + 1));
}

bool is_checksum(std::string_view s) noexcept {
  if (!s.starts_with(kChecksumPrefix)) return false;
  const auto hex = s.substr(kChecksumPrefix.size());
  return hex.size() == 64 &&
         std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Decision decide(const File& state, const Command& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  return std::visit(
      overloaded{
          [&](const RecordFile& c) -> Decision {
            if (auto err = checks::id("file_id", c.file_id)) return *err;
            if (state.exists) return checks::already_exists("file_id", "the file is recorded already");
            if (auto err = checks::text("name", c.name, kMaxName)) return *err;
            if (c.name.find_first_of(std::string_view("/\0", 2)) != std::string::npos)
              return invalid("name", "a file name holds no '/' and no NUL");
            if (c.size < 0 || c.size > kMaxSize)
              return invalid("size", "size must be 0 to " + std::to_string(kMaxSize) + " bytes");
            if (!is_content_type(c.content_type))
              return invalid("content_type", "content_type must look like type/subtype, such as image/png");
            if (!is_checksum(c.checksum))
              return invalid("checksum", "checksum must be sha256: and 64 lowercase hexadecimal digits");
            return one(FileRecorded{c.file_id, actor.id, c.name, c.size, c.content_type, c.checksum});
          },
          [&](const DeleteFile& c) -> Decision {
            if (!state.exists) return checks::not_found("file_id", "no such file");
            if (c.file_id != state.file_id)
              return invalid("file_id", "the command names another file than this stream's");
            if (actor.id != state.owner_id && !checks::is_admin_or_owner(actor))
              return checks::forbidden("file_id", "only the file's owner, or an admin or owner, deletes it");
            if (state.deleted) return checks::conflict("file_id", "the file is deleted already");
            return one(FileDeleted{state.file_id, state.owner_id});
          },
      },
      command);
}

File evolve(File s, const Event& event) {
  std::visit(overloaded{
                 [&](const FileRecorded& e) {
                   s.exists = true;
                   s.file_id = e.file_id;
                   s.owner_id = e.owner_id;
                   s.name = e.name;
                   s.size = e.size;
                   s.content_type = e.content_type;
                   s.checksum = e.checksum;
                 },
                 [&](const FileDeleted&) { s.deleted = true; },
             },
             event);
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("file")

}  // namespace lethe::domain::files
