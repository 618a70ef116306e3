#include "demo/chaos/violations.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <sstream>

namespace chaos {

void violations::add(const std::string& invariant, const std::string& what) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++counts_[invariant];
  auto& k = kinds_[invariant][kind_of(what)];
  if (k.count++ < 3) {
    k.examples.push_back(what);
    std::cout << "!! VIOLATION [" << invariant << "] " << what
              << " (reproduce with scripts/chaos.sh --seed " << seed_
              << " --duration " << duration_ << ")" << std::endl;
  }
}

size_t violations::count(const std::string& invariant) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = counts_.find(invariant);
  return i == counts_.end() ? 0 : i->second;
}

size_t violations::total() const {
  std::lock_guard<std::mutex> guard{mtx_};
  size_t n = 0;
  for (auto& [k, v] : counts_)
    n += v;
  return n;
}

std::vector<std::pair<size_t, std::vector<std::string>>>
violations::kinds(const std::string& invariant) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<size_t, std::vector<std::string>>> result;
  if (auto i = kinds_.find(invariant); i != kinds_.end())
    for (auto& [shape, k] : i->second)
      result.emplace_back(k.count, k.examples);
  std::sort(result.begin(), result.end(),
            [](auto& x, auto& y) { return x.first > y.first; });
  return result;
}

std::string violations::kind_of(const std::string& what) {
  std::istringstream in{what};
  std::string word;
  std::string shape;
  while (in >> word)
    shape += (std::any_of(word.begin(), word.end(),
                          [](char c) { return std::isdigit(c); })
                ? "#"
                : word)
             + " ";
  return shape;
}

} // namespace chaos
