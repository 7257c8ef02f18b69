// Fuzz target: br.toml bytes. Properties: an error names the file (and, past the TOML syntax,
// a line or key); a config that loads has values inside their documented ranges.
#include "protocol/config.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto config = br::parse_config(br::fuzz::bytes(data, size), "br.toml", "/project");
  if (!config) {
    BR_FUZZ_CHECK(!config.error().diagnostics.empty());
    for (const auto& d : config.error().diagnostics) BR_FUZZ_CHECK(d.file == "br.toml");
    return 0;
  }
  BR_FUZZ_CHECK(config->run.workers >= 1 && config->run.workers <= 1024);
  BR_FUZZ_CHECK(config->run.backoff_max_ms >= config->run.backoff_base_ms);
  BR_FUZZ_CHECK(config->journal.snapshot_every <= 1'000'000'000);
  return 0;
}
