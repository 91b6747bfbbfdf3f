#include "console.hpp"

#include <algorithm>

#include "route_kit.hpp"

namespace lethe::api {

namespace {

// The page loads only its own script and style, is never framed, and sends
// nothing anywhere but this server.
constexpr const char* kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

void send_asset(Call& c, std::string_view name) {
  const auto& all = console_assets();
  const auto it = std::find_if(all.begin(), all.end(), [&](const ConsoleAsset& a) { return a.name == name; });
  if (it == all.end()) throw HttpError{404, "not_found", "file", "the console has no such file"};
  c.res.set_header("Content-Security-Policy", kPolicy);
  c.res.set_header("X-Content-Type-Options", "nosniff");
  c.res.set_header("Referrer-Policy", "no-referrer");
  c.res.set_header("Cache-Control", "no-cache");
  c.res.status = 200;
  c.res.set_content(std::string(it->bytes), std::string(it->type));
}

}  // namespace

void console_page(Call& c) {
  send_asset(c, "index.html");
}

void console_file(Call& c) {
  send_asset(c, c.params.at(0));
}

}  // namespace lethe::api
