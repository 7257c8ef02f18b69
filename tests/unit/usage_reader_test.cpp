#include "actors/worker/usage_reader.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

using namespace br;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(BR_FIXTURES_DIR) + "/usage/" + name, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Feeds in small uneven chunks, as a pipe delivers output.
UsageReader read_all(AgentOutput format, const std::string& out, std::size_t chunk = 7) {
  UsageReader r(format);
  for (std::size_t i = 0; i < out.size(); i += chunk) {
    r.feed(out.data() + i, std::min(chunk, out.size() - i));
  }
  r.finish();
  return r;
}

}  // namespace

TEST_CASE("claude --output-format json: cost, tokens, turns, duration and the final message") {
  const auto r = read_all(AgentOutput::claude_json, fixture("claude_result.json"));
  const Usage u = r.usage();
  CHECK(u.known);
  CHECK(u.cost_known);
  CHECK(u.cost_micro_usd == 42184);  // 0.0421837 rounded to millionths
  CHECK(u.tokens_in == 12);
  CHECK(u.tokens_out == 903);
  CHECK(u.cache_write_tokens == 5210);
  CHECK(u.cache_read_tokens == 40311);
  CHECK(u.turns == 4);
  CHECK(u.duration_ms == 12840);
  REQUIRE(r.final_message());
  CHECK(*r.final_message() == "Added the users table.\nAll tests pass.");
}

TEST_CASE("claude stream-json: only the final result line counts") {
  const auto r = read_all(AgentOutput::claude_json, fixture("claude_stream.jsonl"), 64);
  const Usage u = r.usage();
  CHECK(u.known);
  CHECK(u.cost_micro_usd == 250000);
  CHECK(u.tokens_in == 7);  // not the assistant event's 3
  CHECK(u.tokens_out == 300);
  CHECK(u.turns == 2);
  REQUIRE(r.final_message());
  CHECK(*r.final_message() == "Stopped: could not find the migration tool");
}

TEST_CASE("codex exec --json: turn usages are summed, cached tokens kept apart") {
  const auto r = read_all(AgentOutput::codex_json, fixture("codex_exec.jsonl"), 5);
  const Usage u = r.usage();
  CHECK(u.known);
  CHECK_FALSE(u.cost_known);
  CHECK(u.tokens_in == (24763 - 24448) + 1000);
  CHECK(u.cache_read_tokens == 24448);
  CHECK(u.tokens_out == 122 + 78);
  CHECK(u.turns == 2);
  REQUIRE(r.final_message());
  CHECK(*r.final_message() == "Done.\nMigration added.");
}

TEST_CASE("a JSON format's records are not read in text mode") {
  const auto r = read_all(AgentOutput::text, fixture("claude_result.json"));
  CHECK_FALSE(r.usage().known);
  CHECK_FALSE(r.final_message());
}

TEST_CASE("a BR-USAGE line is read in every mode and wins over the format's records") {
  const std::string line = "BR-USAGE: tokens_in=1200 tokens_out=340 cost_usd=0.0123\n";
  for (const auto format :
       {AgentOutput::text, AgentOutput::claude_json, AgentOutput::codex_json}) {
    const auto r = read_all(format, fixture("claude_result.json") + line + "bye\n");
    const Usage u = r.usage();
    CHECK(u.known);
    CHECK(u.tokens_in == 1200);
    CHECK(u.tokens_out == 340);
    CHECK(u.cost_known);
    CHECK(u.cost_micro_usd == 12300);
  }
  // The last line wins, and a line without a newline at the end is read.
  const auto r = read_all(AgentOutput::text,
                          "BR-USAGE: tokens_in=1 tokens_out=2\r\nBR-USAGE: tokens_in=5 tokens_out=6 "
                          "cache_read_tokens=7 turns=3 note=x");
  CHECK(r.usage().tokens_in == 5);
  CHECK(r.usage().cache_read_tokens == 7);
  CHECK(r.usage().turns == 3);
  CHECK_FALSE(r.usage().cost_known);
}

TEST_CASE("malformed or out-of-bound usage records leave usage unknown") {
  const char* text_lines[] = {
      "BR-USAGE: tokens_in=12",                          // tokens_out missing
      "BR-USAGE: tokens_in=-1 tokens_out=2",             // negative
      "BR-USAGE: tokens_in=1x tokens_out=2",             // not a number
      "BR-USAGE: tokens_in=1 tokens_out=2 cost_usd=1e3", // not a plain decimal
      "BR-USAGE: tokens_in=1 tokens_out=2 cost_usd=",    // empty
      "BR-USAGE: tokens_in=99999999999999999999 tokens_out=2",  // overflows
      "BR-USAGE: tokens_in=1 tokens_out=2 cost_usd=99999999",   // beyond the bound
      "BR-USAGE: tokens_in 1 tokens_out 2",
      "  BR-USAGE: tokens_in=1 tokens_out=2",  // not at the line's start
  };
  for (const char* line : text_lines) {
    INFO(line);
    CHECK_FALSE(read_all(AgentOutput::text, std::string(line) + "\n").usage().known);
  }
  const char* claude_lines[] = {
      R"({"type":"result","total_cost_usd":0.1,"usage":{"input_tokens":-5,"output_tokens":1}})",
      R"({"type":"result","total_cost_usd":"0.1","usage":{"input_tokens":5,"output_tokens":1}})",
      R"({"type":"result","total_cost_usd":-0.1,"usage":{"input_tokens":5,"output_tokens":1}})",
      R"({"type":"result","total_cost_usd":0.1,"usage":{"input_tokens":1.5,"output_tokens":1}})",
      R"({"type":"result","total_cost_usd":0.1,"usage":"lots"})",
      R"({"type":"result","total_cost_usd":0.1})",
      R"({"type":"assistant","total_cost_usd":0.1,"usage":{"input_tokens":5,"output_tokens":1}})",
      R"({"type":"result","total_cost_usd":0.1,"usage":{"input_tokens":5,"output_tokens":1})",
      R"({"type":"result","total_cost_usd":1e300,"usage":{"input_tokens":5,"output_tokens":1}})",
  };
  for (const char* line : claude_lines) {
    INFO(line);
    CHECK_FALSE(read_all(AgentOutput::claude_json, std::string(line) + "\n").usage().known);
  }
  CHECK_FALSE(read_all(AgentOutput::codex_json,
                       R"({"type":"turn.completed","usage":{"input_tokens":"many"}})"
                       "\n")
                  .usage()
                  .known);
  CHECK_FALSE(read_all(AgentOutput::claude_json, "").usage().known);
}

TEST_CASE("an overlong line is skipped whole, and reading goes on after it") {
  std::string out = "BR-USAGE: tokens_in=1 tokens_out=2 ";
  out += std::string(UsageReader::kMaxLineBytes + 10, 'x');
  out += "\nhello\n";
  auto r = read_all(AgentOutput::text, out, 4096);
  CHECK_FALSE(r.usage().known);
  r = read_all(AgentOutput::text, out + "BR-USAGE: tokens_in=3 tokens_out=4\n", 4096);
  CHECK(r.usage().tokens_in == 3);
}

TEST_CASE("a long final message is kept by its end, within its bound") {

  const std::string line = R"({"type":"result","total_cost_usd":0,"usage":{},"result":")" +
                           std::string(UsageReader::kMaxMessageBytes * 2, 'a') + R"(\nthe end"})";
  const auto r = read_all(AgentOutput::claude_json, line + "\n", 8192);
  CHECK(r.usage().known);
  REQUIRE(r.final_message());
  CHECK(r.final_message()->size() == UsageReader::kMaxMessageBytes);
  CHECK(r.final_message()->substr(r.final_message()->size() - 7) == "the end");

}

TEST_CASE("dollar amounts parse to exact micro-USD and format back") {
  CHECK(parse_micro_usd("0.012345") == 12345u);
  CHECK(parse_micro_usd("1") == 1000000u);
  CHECK(parse_micro_usd(".5") == 500000u);
  CHECK(parse_micro_usd("0.0000005") == 1u);   // rounded half up
  CHECK(parse_micro_usd("0.0000004") == 0u);
  CHECK_FALSE(parse_micro_usd("."));
  CHECK_FALSE(parse_micro_usd("-1"));
  CHECK_FALSE(parse_micro_usd("1.2.3"));
  CHECK(micro_usd_from_double(0.0421837) == 42184u);
  CHECK_FALSE(micro_usd_from_double(-0.01));
  CHECK(format_usd(12345) == "0.012345");
  CHECK(format_usd(12345, 2) == "0.01");
  CHECK(format_usd(1995000, 2) == "2.00");  // 1.995 rounds up
  CHECK(format_usd(7, 0) == "0");
  UsageTotal t;
  Usage a;
  a.known = true;
  a.tokens_in = 10;
  a.cost_micro_usd = 5;
  t.add(a);
  t.add(Usage{});
  CHECK(t.attempts == 2);
  CHECK(t.unknown_attempts == 1);
  CHECK(t.cost_micro_usd == 5);
  CHECK(t.tokens_total() == 10);
}

TEST_CASE("budgets: an attempt over the task's, a run at its own; unknown cost is under both") {
  Usage u;
  u.known = true;
  u.cost_known = true;
  u.cost_micro_usd = 2500001;
  CHECK(over_task_budget(u, 2500000) ==
        "over its task budget: the agent reported $2.500001, [agent] max_cost_per_task_usd is "
        "$2.500000 (raise it and run br retry)");
  CHECK(over_task_budget(u, 2500001).empty());
  CHECK(over_task_budget(u, 0).empty());  // no limit
  u.cost_known = false;
  CHECK(over_task_budget(u, 1).empty());
  UsageTotal spent;
  spent.cost_micro_usd = 800000;
  CHECK(run_budget_reached(spent, 800001).empty());
  CHECK(run_budget_reached(spent, 800000) ==
        "budget reached: the run's attempts cost $0.80, [agent] max_cost_usd is $0.80");
  CHECK(run_budget_reached(spent, 0).empty());
}

TEST_CASE("a batch's usage is shared out so the shares add up to the whole") {
  Usage whole;
  whole.known = true;
  whole.cost_known = true;
  whole.cost_micro_usd = 400000;
  whole.tokens_in = 100;
  whole.turns = 3;
  const auto shares = split_usage(whole, 3);
  REQUIRE(shares.size() == 3);
  CHECK(shares[0].cost_micro_usd == 133334);
  CHECK(shares[1].cost_micro_usd == 133333);
  CHECK(shares[0].tokens_in + shares[1].tokens_in + shares[2].tokens_in == 100);
  CHECK(shares[2].turns == 3);
  CHECK(split_usage(Usage{}, 2)[1] == Usage{});
  CHECK(split_usage(whole, 0).empty());
}
