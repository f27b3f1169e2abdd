#include "common/flag_names.h"

#include "absl/flags/parse.h"

namespace tokens {

std::vector<std::string> ParseFlagsWithDashes(int argc, char** argv) {
  std::vector<std::string> rewritten;
  bool flags_done = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") flags_done = true;
    if (!flags_done && i > 0 && arg.size() > 2 && arg[0] == '-') {
      size_t start = arg[1] == '-' ? 2 : 1;
      size_t end = arg.find('=');
      if (end == std::string::npos) end = arg.size();
      for (size_t k = start; k < end; ++k) {
        if (arg[k] == '-') arg[k] = '_';
      }
    }
    rewritten.push_back(std::move(arg));
  }
  std::vector<char*> pointers;
  for (std::string& s : rewritten) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  std::vector<char*> positional = absl::ParseCommandLine(
      static_cast<int>(rewritten.size()), pointers.data());
  return std::vector<std::string>(positional.begin(), positional.end());
}

}  // namespace tokens
