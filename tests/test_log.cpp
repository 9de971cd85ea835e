#include <catch2/catch.hpp>
#include <thread>

#include "exporter/log/log.h"
#include "tests/support/log_capture.h"

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

TEST_CASE("records of a thread working for an account end with its name", "[log][accounts]") {
  vpbx::log::configure(vpbx::log::Level::info, vpbx::log::Format::logfmt);
  vpbx::test::StderrCapture capture;
  vpbx::log::info("before");
  {
    vpbx::log::AccountScope scope("hotel-a");
    vpbx::log::info("polled", {{"collector", "presence"}});
    std::thread([account = vpbx::log::thread_account()] {
      vpbx::log::AccountScope inherited(account);
      vpbx::log::warn("from a worker");
    }).join();
  }
  vpbx::log::info("after");
  vpbx::log::configure(vpbx::log::Level::info, vpbx::log::Format::json);
  {
    vpbx::log::AccountScope scope("b");
    vpbx::log::info("json");
  }
  vpbx::log::configure(vpbx::log::Level::info, vpbx::log::Format::logfmt);
  const std::string out = capture.finish();
  CHECK_THAT(out, Catch::Contains("msg=before\n"));
  CHECK_THAT(out, Catch::Contains("msg=polled collector=presence account=hotel-a\n"));
  CHECK_THAT(out, Catch::Contains("msg=\"from a worker\" account=hotel-a\n"));
  CHECK_THAT(out, Catch::Contains("msg=after\n"));
  CHECK_THAT(out, Catch::Contains("\"msg\":\"json\",\"account\":\"b\"}\n"));
}
