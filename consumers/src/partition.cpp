#include "partition.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>

#include "lethe/infra/ids.hpp"

namespace lethe::consumers {

namespace {

void absorb(crypto_generichash_state& st, std::string_view part) {
  // Length first, so that key "ab" + value "c" differs from "a" + "bc".
  const std::uint64_t n = part.size();
  std::array<unsigned char, 8> len{};
  for (std::size_t i = 0; i < len.size(); ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  crypto_generichash_update(&st, len.data(), len.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
}

}  // namespace

std::string describe(const PartitionKey& key) {
  return key.first + "[" + std::to_string(key.second) + "]";
}

std::string_view key_view(const RdKafka::Message& m) {
  return m.key_pointer() ? std::string_view(static_cast<const char*>(m.key_pointer()), m.key_len())
                         : std::string_view{};
}

std::string_view value_view(const RdKafka::Message& m) {
  return m.payload() ? std::string_view(static_cast<const char*>(m.payload()), m.len()) : std::string_view{};
}

std::string fingerprint(const RdKafka::Message& m) {
  constexpr std::size_t kBytes = 16;  // 128 bits: no accidental match between two different messages
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kBytes);
  absorb(st, key_view(m));
  absorb(st, value_view(m));
  std::array<unsigned char, kBytes> out{};
  crypto_generichash_final(&st, out.data(), out.size());
  return infra::hex({reinterpret_cast<const char*>(out.data()), out.size()});
}

}  // namespace lethe::consumers
