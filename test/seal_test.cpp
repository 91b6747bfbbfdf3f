#define BOOST_TEST_MODULE seal_unit
#include "lethe/domain/seal.hpp"

#include <boost/test/unit_test.hpp>

namespace d = lethe::domain;

namespace {
d::Seal sealed(const d::SealKey& key) {
  d::Seal s{3, 120, 40, d::seal_step(d::seal_step("", 1, "aa"), 2, "bb"), ""};
  s.hmac = d::seal_hmac(key, s);
  return s;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_key_file_holds_64_hex_digits_or_32_raw_bytes) {
  const auto hex = d::parse_seal_key("00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n");
  BOOST_REQUIRE(hex.ok());
  BOOST_TEST(hex.value().bytes[1] == 0x11);
  BOOST_TEST(hex.value().bytes[31] == 0xff);
  const auto raw = d::parse_seal_key(std::string(31, 'r') + '\n');  // 32 raw bytes, the last one a newline
  BOOST_REQUIRE(raw.ok());
  BOOST_TEST(raw.value().bytes[31] == '\n');
  BOOST_TEST(!d::parse_seal_key("").ok());
  BOOST_TEST(!d::parse_seal_key("0011").ok());
  BOOST_TEST(d::parse_seal_key(std::string(64, 'g')).error().field == "seal_key");
}

BOOST_AUTO_TEST_CASE(the_running_digest_depends_on_every_hash_its_position_and_the_order) {
  const auto ab = d::seal_step(d::seal_step("", 1, "aa"), 2, "bb");
  BOOST_TEST(ab.size() == 64u);
  BOOST_TEST(ab == d::seal_step(d::seal_step("", 1, "aa"), 2, "bb"));
  BOOST_TEST(ab != d::seal_step(d::seal_step("", 2, "bb"), 1, "aa"));  // order
  BOOST_TEST(ab != d::seal_step(d::seal_step("", 1, "aa"), 3, "bb"));  // position
  BOOST_TEST(ab != d::seal_step("", 2, "bb"));                         // a dropped event
  BOOST_TEST(ab != d::seal_step(d::seal_step("", 1, "aa"), 2, "bc"));  // a changed hash
}

BOOST_AUTO_TEST_CASE(a_seal_is_authentic_only_under_its_key_and_with_its_fields_unchanged) {
  const auto key = d::parse_seal_key(std::string(32, 'k')).value();
  const auto other = d::parse_seal_key(std::string(32, 'o')).value();
  const auto s = sealed(key);
  BOOST_TEST(d::seal_authentic(key, s));
  BOOST_TEST(!d::seal_authentic(other, s));
  for (int field = 0; field < 4; ++field) {
    auto x = s;
    if (field == 0) x.number = 4;
    if (field == 1) x.last_position = 121;
    if (field == 2) x.event_count = 39;
    if (field == 3) x.digest[0] = x.digest[0] == '0' ? '1' : '0';
    BOOST_TEST(!d::seal_authentic(key, x), "field " << field);
  }
  auto truncated = s;
  truncated.hmac.pop_back();
  BOOST_TEST(!d::seal_authentic(key, truncated));
  BOOST_TEST(d::encode(s).find("\"seal\":3,\"last_position\":120,\"events\":40,") == 1u);
}
