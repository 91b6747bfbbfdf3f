#pragma once
// The console: a web page for staff, admins, owners and auditors, served by
// `lethe serve` under /console from files compiled into the binary
// (api/console/, embedded by cmake/embed.cmake). The page holds no data and
// no rule: it signs in through POST /sessions and calls the API as its
// user, so it shows and does exactly what that user's role allows.
#include <string_view>
#include <vector>

#include "http.hpp"

namespace lethe::api {

struct ConsoleAsset {
  std::string_view name;  // index.html, console.js, ...
  std::string_view type;  // its media type
  std::string_view bytes;
};
const std::vector<ConsoleAsset>& console_assets();

// GET /console and GET /console/{file}.
void console_page(Call& c);
void console_file(Call& c);

// GET /changes?after=N: the read models' progress, a number that moves
// whenever any projection applies a batch. With `after`, waits (holding no
// worker, at most --max-wait-ms) until it differs from N; the console asks
// again and again and reloads its page when the number moves.
void changes(Call& c);

}  // namespace lethe::api
