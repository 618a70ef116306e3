// Unit tests of HTTP participants declared in JSON (saga_node
// --http-participants-file).
#include "http/http_participants_file.hpp"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "http/http_participant.hpp"
#include "saga/errc.hpp"

namespace saga::detail {
namespace {

using namespace std::chrono_literals;

http_participant_config defaults() {
  http_participant_config d;
  d.timeout = 3s;
  return d;
}

std::string error_of(const char* text) {
  auto x = http_participants_from_json(json::parse(text), defaults(), "f.json");
  EXPECT_FALSE(x) << text;
  return x ? std::string{} : describe(x.error());
}

bool has(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

TEST(http_participants_file, reads_every_setting_over_the_defaults) {
  auto x = http_participants_from_json(json::parse(R"({
    "payments": {"base_url": "https://pay:8443/api", "timeout_ms": 2500,
                 "headers": {"Authorization": "Bearer t"},
                 "routes": {"charge": {"execute": {"method": "PUT",
                                                   "path": "/charges"},
                                       "compensate": {"path": "/refunds"}}},
                 "max_in_flight": 8, "queue_max": 100,
                 "response_bytes_max": 4096, "still_working_max_ms": 9000,
                 "ca_file": "ca.pem", "cert_file": "c.pem",
                 "key_file": "k.pem", "server_name": "pay.internal"},
    "mailer": {"base_url": "http://mail:8080"}})"),
                                       defaults());
  ASSERT_TRUE(x) << describe(x.error());
  ASSERT_EQ(x->size(), 2u);
  const auto& [name, p] = (*x)[1].first == "payments" ? (*x)[1] : (*x)[0];
  EXPECT_EQ(name, "payments");
  EXPECT_EQ(p.base_url, "https://pay:8443/api");
  EXPECT_EQ(p.timeout, 2500ms);
  ASSERT_EQ(p.headers.size(), 1u);
  EXPECT_EQ(p.headers[0].second, "Bearer t");
  EXPECT_EQ(p.routes.at("charge").execute.method, "PUT");
  EXPECT_EQ(p.routes.at("charge").compensate.method, "POST");
  EXPECT_EQ(p.routes.at("charge").compensate.path, "/refunds");
  EXPECT_EQ(p.max_in_flight, 8u);
  EXPECT_EQ(p.queue_max, 100u);
  EXPECT_EQ(p.response_bytes_max, 4096u);
  EXPECT_EQ(p.still_working_max, 9000ms);
  EXPECT_EQ(p.ca_file, "ca.pem");
  EXPECT_EQ(p.server_name, "pay.internal");
  EXPECT_FALSE(check_http_participant(name, p));
  const auto& mailer = (*x)[1].first == "mailer" ? (*x)[1] : (*x)[0];
  EXPECT_EQ(mailer.second.timeout, 3s); // the default
  EXPECT_TRUE(mailer.second.routes.empty());
}

TEST(http_participants_file, names_the_participant_and_field_at_fault) {
  EXPECT_TRUE(has(error_of(R"({"p": {"base_url": "http://h", "timeout": 5}})"),
                  "f.json: participant 'p': unknown field 'timeout'"));
  EXPECT_TRUE(has(error_of(R"({"p": {"base_url": 7}})"),
                  "participant 'p': 'base_url' is not a string"));
  EXPECT_TRUE(has(error_of(R"({"p": {"timeout_ms": 5}})"),
                  "participant 'p' has no 'base_url'"));
  EXPECT_TRUE(
    has(error_of(R"({"p": {"base_url": "http://h", "timeout_ms": -5}})"),
        "'timeout_ms' is not a non-negative integer"));
  EXPECT_TRUE(
    has(error_of(R"({"p": {"base_url": "http://h", "headers": {"A": 1}}})"),
        "header 'A' is not a string"));
  EXPECT_TRUE(has(error_of(R"({"p": {"base_url": "http://h",
                                     "routes": {"a": {"execute": {}}}}})"),
                  "route 'a' is not an object with 'execute' and "
                  "'compensate'"));
  EXPECT_TRUE(has(error_of(R"({"p": {"base_url": "http://h",
    "routes": {"a": {"execute": {"path": 1}, "compensate": {"path": "/"}}}}})"),
                  "route 'a' execute is not an object with 'method' and "
                  "'path'"));
  EXPECT_TRUE(has(error_of(R"({"p": []})"), "participant 'p' is not an "
                                            "object"));
  EXPECT_TRUE(has(error_of(R"([])"), "not an object of participants"));
}

TEST(http_participants_file, a_file_that_is_missing_or_not_json_is_named) {
  auto missing = read_http_participants_file("/nonexistent/p.json", {});
  ASSERT_FALSE(missing);
  EXPECT_TRUE(has(describe(missing.error()), "/nonexistent/p.json: cannot "
                                             "be read"));
  auto path = ::testing::TempDir() + "participants.json";
  std::ofstream{path} << "{\"p\": ";
  auto broken = read_http_participants_file(path, {});
  ASSERT_FALSE(broken);
  EXPECT_TRUE(has(describe(broken.error()), "is not valid JSON"));
  std::ofstream{path} << R"({"p": {"base_url": "http://h:1"}})";
  auto good = read_http_participants_file(path, {});
  ASSERT_TRUE(good) << describe(good.error());
  EXPECT_EQ(good->at(0).second.base_url, "http://h:1");
  std::remove(path.c_str());
}

} // namespace
} // namespace saga::detail
