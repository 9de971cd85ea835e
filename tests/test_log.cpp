#include <catch2/catch.hpp>

#include "exporter/log/log.h"

using namespace vpbx::log;

TEST_CASE("logfmt quotes values with spaces and escapes quotes", "[log]") {
  const auto line =
      format_record(Format::logfmt, "2026-01-01T00:00:00.000Z", Level::warn, "api failing",
                    {{"endpoint", "v1/system/server"}, {"err", "say \"no\""}});
  CHECK(line ==
        "ts=2026-01-01T00:00:00.000Z level=warn msg=\"api failing\" endpoint=v1/system/server "
        "err=\"say \\\"no\\\"\"\n");
}

TEST_CASE("json records are one object per line with escaped control bytes", "[log]") {
  const auto line = format_record(Format::json, "t", Level::info, "a\nb", {{"code", 401}});
  CHECK(line == "{\"ts\":\"t\",\"level\":\"info\",\"msg\":\"a\\nb\",\"code\":\"401\"}\n");
}

TEST_CASE("levels and formats parse from their flag spelling", "[log]") {
  CHECK(parse_level("debug") == Level::debug);
  CHECK(parse_level("error") == Level::error);
  CHECK_FALSE(parse_level("verbose").has_value());
  CHECK(parse_format("json") == Format::json);
  CHECK_FALSE(parse_format("xml").has_value());
}

TEST_CASE("an error latch reports a failure once until it clears", "[log]") {
  ErrorLatch latch;
  CHECK(latch.fail("HTTP 503"));
  CHECK_FALSE(latch.fail("HTTP 503"));
  CHECK(latch.fail("timeout"));  // a different reason is news
  CHECK(latch.recover());
  CHECK_FALSE(latch.recover());
  CHECK(latch.fail("HTTP 503"));
}

TEST_CASE("once-per-value reports each value the first time only", "[log]") {
  OncePerValue once;
  CHECK(once.first_time("AWAY"));
  CHECK_FALSE(once.first_time("AWAY"));
  CHECK(once.first_time("DND"));
}
