// Runs edgesign_classify.h on a host, so a test can compare it with the Pi's Python code.
//
//   host_check scores [FILE]   each line: kClassCount int8 output scores (-128..127)
//                              -> "<index> <confidence> <class name>"
//   host_check input [FILE]    each line: kInputPixels gray pixels (0..255)
//                              -> the kInputPixels int8 model inputs FillInput makes
//
// FILE defaults to standard input ("-"). Numbers are separated by spaces or commas. A line with
// the wrong count or a value out of range ends the run with exit code 2 and a one-line message.
//
// Build (model_data.h/.cc from `edgesign micro`, in MODEL_DIR):
//   g++ -std=c++17 -Wall -Wextra -Werror -I MODEL_DIR -I examples/micro
//       examples/micro/host_check.cc MODEL_DIR/model_data.cc -o host_check
// (one command line; tests/test_micro_example.py builds it so).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "edgesign_classify.h"
#include "model_data.h"

namespace {

bool ReadValues(const std::string& line, long low, long high, std::vector<long>* values) {
  std::string text = line;
  for (char& c : text) {
    if (c == ',') c = ' ';
  }
  std::istringstream in(text);
  values->clear();
  std::string token;
  while (in >> token) {
    char* end = nullptr;
    const long value = std::strtol(token.c_str(), &end, 10);
    if (end == token.c_str() || *end != '\0' || value < low || value > high) return false;
    values->push_back(value);
  }
  return true;
}

int Fail(const std::string& where, int line, const std::string& what) {
  std::fprintf(stderr, "host_check: %s, line %d: %s\n", where.c_str(), line, what.c_str());
  return 2;
}

int Run(const std::string& mode, std::istream& in, const std::string& where) {
  const bool scores = mode == "scores";
  const size_t count = scores ? edgesign_model::kClassCount : edgesign_classify::kInputPixels;
  const long low = scores ? -128 : 0;
  const long high = scores ? 127 : 255;
  std::vector<long> values;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r,") == std::string::npos) continue;
    if (!ReadValues(line, low, high, &values)) {
      return Fail(where, number, "values must be integers from " + std::to_string(low) + " to " +
                                     std::to_string(high));
    }
    if (values.size() != count) {
      return Fail(where, number, "expected " + std::to_string(count) + " values, got " +
                                     std::to_string(values.size()));
    }
    if (scores) {
      std::vector<int8_t> q(values.begin(), values.end());
      const edgesign_classify::Result result = edgesign_classify::Classify(q.data());
      std::printf("%d %.9g %s\n", result.index, result.confidence, result.name);
    } else {
      std::vector<uint8_t> gray(values.begin(), values.end());
      std::vector<int8_t> input(count);
      edgesign_classify::FillInput(gray.data(), input.data());
      for (size_t i = 0; i < count; ++i) std::printf(i ? " %d" : "%d", input[i]);
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (std::strcmp(argv[1], "scores") && std::strcmp(argv[1], "input"))) {
    std::fprintf(stderr, "usage: host_check scores|input [FILE]\n");
    return 2;
  }
  const std::string path = argc == 3 ? argv[2] : "-";
  if (path == "-") return Run(argv[1], std::cin, "<stdin>");
  std::ifstream file(path);
  if (!file) {
    std::fprintf(stderr, "host_check: %s: cannot be read\n", path.c_str());
    return 2;
  }
  return Run(argv[1], file, path);
}
