// The main of a fuzz target in the normal build (cmake/SagaFuzz.cmake): g++
// cannot link libFuzzer, so the test suite runs the target's
// LLVMFuzzerTestOneInput on every file of its checked-in inputs instead.
//
//   fuzz_<target>_replay SEEDS [MORE...]
//
// SEEDS (a directory or a file) must exist and hold at least one input; each
// further directory (tests/fuzz-regressions/<target>/) is skipped when it is
// missing. A property a target checks that does not hold ends the process
// with __builtin_trap(), which fails the test; the input is named first.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv)
  __attribute__((weak));

namespace fs = std::filesystem;

namespace {

/// Returns the files to run for `path`: itself, or its regular files
/// (recursively) in name order.
std::vector<fs::path> inputs_of(const fs::path& path) {
  std::vector<fs::path> result;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    result.push_back(path);
    return result;
  }
  for (fs::recursive_directory_iterator i{path, ec}, end; !ec && i != end;
       i.increment(ec))
    if (i->is_regular_file(ec))
      result.push_back(i->path());
  std::sort(result.begin(), result.end());
  return result;
}

bool run_file(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  std::vector<char> bytes{std::istreambuf_iterator<char>{in},
                          std::istreambuf_iterator<char>{}};
  // Named before it runs: a failed check traps without a word of its own
  // about which input it was.
  std::fprintf(stderr, "  %s (%zu bytes)\n", file.c_str(), bytes.size());
  // A copy in a buffer of exactly its size, so that ASan sees any read
  // past the end, as under libFuzzer.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SEEDS [MORE...]\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  size_t total = 0;
  for (int i = 1; i < argc; ++i) {
    fs::path path{argv[i]};
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      if (i == 1) {
        std::fprintf(stderr, "no seeds at %s\n", path.c_str());
        return 1;
      }
      std::fprintf(stderr, "%s: none\n", path.c_str());
      continue;
    }
    auto files = inputs_of(path);
    if (i == 1 && files.empty()) {
      std::fprintf(stderr, "no seed files in %s\n", path.c_str());
      return 1;
    }
    std::fprintf(stderr, "%s: %zu inputs\n", path.c_str(), files.size());
    for (const auto& f : files) {
      if (!run_file(f))
        return 1;
      ++total;
    }
  }
  std::printf("%zu inputs ran, every check held\n", total);
  return 0;
}
