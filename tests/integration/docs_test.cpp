// The documentation cannot drift from the program: every command example of README.md and
// docs/*.md runs, in order, file by file, on the harness's temporary roots.
//
// Which lines are examples. In an indented code block, a line (after an optional "# " or "$ "
// prompt) whose first word is one of the programs (vserver, vserver-stat, vps, vkill, vtop,
// vserver-base, vserver-autostart) or one of the shell verbs that set up what they use (echo,
// printf, mkdir, touch, ln, cd, ip), with its "\" continuation lines. A command line with a
// placeholder (an upper-case word such as NAME, or "[" before an option) is a synopsis and is not
// run. Lines under a prompted command are its output; other lines are text.
//
// How an example runs. With /bin/sh, in the test's network namespace (its own "eth0", a dummy,
// and whatever the file's setup adds), with /etc/vservers, /var/lib/vservers, /run/vservers,
// /var/log/vservers and /srv moved below the test's root. It must exit 0, unless kRules says it
// fails; where kRules says so, the output shown in the doc must appear in what it printed.
//
// Adding an example to a doc: run this test. If the example cannot run here (it needs Debian's
// archive, the host's network, a terminal, ...), add one line to kRules with the reason; if it
// needs a guest or a file the doc does not make, add that to the file's entry in kPreparations. A
// rule that matches no example fails the test, so the list cannot go stale.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

namespace {

namespace fs = std::filesystem;
using it::Env;
using it::Result;

enum class Kind {
  Exclude,   // not run; the reason says why
  Fails,     // the doc shows it failing: it must exit non-zero
  Output,    // the output the doc shows must appear in what it prints
  Terminal,  // run on a terminal (enter, delete without --yes), typing the rule's input
};

struct Rule {
  const char* file;     // relative to the source directory
  const char* command;  // as in the doc, continuation lines joined, trailing comment removed
  Kind kind;
  const char* why;         // for Terminal: why it needs one
  const char* input = "";  // for Terminal: what is typed
};

// The one list of examples that are not simply run and expected to succeed.
const Rule kRules[] = {
    // README.md: the tour
    {"README.md", "vserver deb build -m debootstrap -- -d bookworm --variant minbase",
     Kind::Exclude, "needs Debian's archive and minutes (debian_test.cpp builds one)"},
    {"README.md", "vserver sd build -m debootstrap --initstyle systemd -- -d bookworm",
     Kind::Exclude, "needs Debian's archive and minutes (debian_test.cpp builds one)"},
    {"README.md", "vserver web enter", Kind::Terminal, "a login shell", "exit\n"},
    {"README.md", "vserver --all apt-get -- update", Kind::Exclude,
     "busybox guests have no apt-get (ops_debian_test.cpp runs it in Debian guests)"},
    {"README.md", "vserver www delete", Kind::Terminal, "asks for confirmation", "y\n"},
    // docs/building.md
    {"docs/building.md",
     "vserver deb build -m skeleton --initstyle sysv -- -- sh -c 'debootstrap bookworm "
     "\"$VSERVER_VDIR\" http://deb.debian.org/debian'",
     Kind::Exclude, "needs Debian's archive and minutes"},
    {"docs/building.md", "vserver tiny enter", Kind::Terminal, "a login shell", "exit\n"},
    {"docs/building.md",
     "vserver old1 build -m rsync --hostname old1 -- --source oldhost:/ --exclude '/srv/backup/*'",
     Kind::Exclude,
     "needs a server reached over ssh (BuildCli.RsyncMovesAServerIntoAGuest moves a local root)"},
    {"docs/building.md", "vserver web delete", Kind::Terminal, "asks for confirmation", "y\n"},
    // docs/configuration.md
    {"docs/configuration.md",
     "vserver --config-root /srv/test/etc --vdir-root /srv/test/roots web start", Kind::Exclude,
     "shows the options that move the roots; the test moves them with their variables"},
    {"docs/configuration.md", "# vserver web check", Kind::Fails, "the doc shows three problems"},
    {"docs/configuration.md", "# vserver old check", Kind::Output, ""},
    // docs/debian.md
    {"docs/debian.md",
     "vserver web build -m debootstrap --hostname web -- -d bookworm --variant minbase",
     Kind::Exclude, "needs Debian's archive and minutes"},
    {"docs/debian.md",
     "vserver web build -m debootstrap --initstyle systemd -- -d bookworm -- --include=less,cron",
     Kind::Exclude, "needs Debian's archive and minutes"},
    {"docs/debian.md",
     "vserver web build -m debootstrap -- -d trixie -m http://mirror.example.org/debian",
     Kind::Exclude, "needs a mirror that does not exist"},
    // docs/networking.md
    {"docs/networking.md", "# vserver a status", Kind::Output, ""},
    // docs/operations.md
    {"docs/operations.md", "vserver --all --mark web exec /etc/init.d/nginx reload", Kind::Exclude,
     "busybox guests have no nginx"},
    {"docs/operations.md", "vserver --all apt-get -- update", Kind::Exclude,
     "busybox guests have no apt-get (ops_debian_test.cpp runs it in Debian guests)"},
    {"docs/operations.md", "vserver web apt-get update", Kind::Exclude,
     "busybox guests have no apt-get (ops_debian_test.cpp runs it in Debian guests)"},
    {"docs/operations.md", "vserver web apt-get install -y openssh-server", Kind::Exclude,
     "needs Debian's archive"},
    // docs/running.md
    {"docs/running.md", "vserver web enter", Kind::Terminal, "a login shell", "exit\n"},
    {"docs/running.md", "vserver web enter --user admin", Kind::Terminal, "a login shell",
     "exit\n"},
    // docs/storage.md
    {"docs/storage.md", "vserver web02 delete", Kind::Terminal, "asks for confirmation", "y\n"},
    // docs/tools.md
    {"docs/tools.md", "vkill -c 40001 -s KILL 214", Kind::Exclude,
     "214 stands for a pid inside a guest; context 40001 for a guest's"},
    {"docs/tools.md", "vkill -s USR1 81431", Kind::Exclude, "81431 stands for a host pid"},
};

// Shell run before an example (before the first one the key matches; "" is before the file's
// first example), on the same roots and in the same namespace: the guests, bridges and files the
// doc uses without making them there.
struct Preparation {
  const char* file;
  const char* before;  // an example's key, or "" for the start of the file
  const char* script;
};

// A root filesystem to stand in for the docs' Debian tarballs and directories (with an
// /etc/init.d/rc, as Debian's sysv-rc has, for --initstyle sysv).
#define VS_DOCS_IMAGES                                                         \
  "vserver img build -m busybox && mkdir -p /srv/images /srv/rootfs && "       \
  "printf '#!/bin/sh\\n' > /var/lib/vservers/img/etc/init.d/rc && "            \
  "chmod 755 /var/lib/vservers/img/etc/init.d/rc && "                          \
  "tar -J -C /var/lib/vservers/img -cf /srv/images/bookworm.tar.xz . && "      \
  "tar --zstd -C /var/lib/vservers/img -cf /srv/images/bookworm.tar.zst . && " \
  "cp -a /var/lib/vservers/img /srv/rootfs/alpine && vserver img delete --yes"

const Preparation kPreparations[] = {
    // deb stands in for the debootstrap guest (excluded), so that "deb exec reboot" runs; the
    // tarball for a Debian one.
    {"README.md", "",
     "ip link add br0 type bridge && ip link set br0 up && mkdir -p /srv/backup && "
     "vserver deb build -m busybox && vserver deb start && "
     "tar --zstd -C /var/lib/vservers/deb -cf /srv/debian.tar.zst ."},
    {"docs/building.md", "", VS_DOCS_IMAGES},
    {"docs/building.md", "vserver web delete", "vserver web2 delete --yes"},
    // An old server's root, mounted where the example finds it.
    {"docs/building.md", "vserver old2 build -m rsync -- --source /srv/old -x",
     "vserver oldsrv build -m busybox && cp -a /var/lib/vservers/oldsrv /srv/old"},
    {"docs/building.md", "vserver web delete --yes", "vserver web build -m busybox"},
    // The three problems of the first check.
    {"docs/configuration.md", "# vserver web check",
     "vserver web build -m busybox --interface 192.0.2.9/24 && "
     "echo 4x > /etc/vservers/web/context && "
     "echo 'TERM 5' > /etc/vservers/web/apps/init/killseq && "
     "rm -f /etc/vservers/web/interfaces/0/dev /etc/vservers/web/interfaces/0/nodev"},
    {"docs/configuration.md", "# vserver old check",
     "vserver old build -m busybox && rm -f /etc/vservers/old/limits/processes && "
     "echo 2.6.32 > /etc/vservers/old/uts/release && mkdir -p /etc/vservers/old/interfaces/0 && "
     "echo 10.0.0.2 > /etc/vservers/old/interfaces/0/ip && "
     "touch /etc/vservers/old/interfaces/0/nodev && "
     "echo 10.0.0.3 > /etc/vservers/old/interfaces/0/ipp"},
    {"docs/configuration.md",
     "mkdir -p /etc/vservers/web/uts /etc/vservers/web/interfaces/0 /etc/vservers/web/apps/init "
     "/etc/vservers/web/apps/vshelper",
     "rm -rf /etc/vservers/web"},
    {"docs/limits.md", "", "vserver web build -m busybox && vserver web start"},
    {"docs/networking.md", "", VS_DOCS_IMAGES},
    // The doc's "or: macvlan", on a kernel without ipvlan.
    {"docs/networking.md", "vserver web restart",
     "if ip link add vsdocipvl link eth0 type ipvlan; then ip link del vsdocipvl; "
     "else echo macvlan > /etc/vservers/web/network/mode; fi"},
    {"docs/operations.md", "", "vserver db build -m busybox && vserver web build -m busybox"},
    {"docs/operations.md", "vserver web stop && vserver web rename www && vserver www start",
     "vserver web start"},
    {"docs/operations.md", "vserver web export /srv/backup/web.tar.zst",
     "mkdir -p /srv/backup && vserver web build -m busybox"},
    {"docs/operations.md", "vserver web import /srv/backup/web.tar.zst",
     "vserver web delete --yes"},
    {"docs/running.md", "", "vserver ssh build -m busybox && vserver web build -m busybox"},
    {"docs/running.md", "vserver web suexec www-data /usr/bin/id",
     "echo 'www-data:x:33:33:www-data:/var/www:/bin/sh' >> /var/lib/vservers/web/etc/passwd"},
    {"docs/running.md", "vserver web enter --user admin",
     "echo 'admin:x:1000:1000:admin:/:/bin/sh' >> /var/lib/vservers/web/etc/passwd"},
    {"docs/storage.md", "", VS_DOCS_IMAGES " && vserver web01 build -m busybox"},
    // The list shows delete after create; the next example uses the base again.
    {"docs/storage.md", "vserver web02 build -m base -- --base bookworm",
     "vserver-base create bookworm -m template -- -t /srv/images/bookworm.tar.zst"},
    // The list shows both ways of unify; the second needs a guest not unified yet.
    {"docs/storage.md", "vserver web01 unify --dry-run",
     "vserver web01 delete --yes && vserver web01 build -m busybox"},
    {"docs/storage.md", "vserver web04 make-base web-base",
     "vserver web04 build -m busybox && vserver-base delete web-base"},
    {"docs/storage.md", "vserver db limit set dlimits/0/space_total 409600 --save",
     "vserver db build -m busybox"},
    {"docs/storage.md", "# vserver web du", "vserver web build -m busybox"},
    {"docs/tools.md", "", "vserver web build -m busybox && vserver web start"},
    {"docs/tools.md", "vkill -c web -s HUP 1", "vserver web start"},
};
#undef VS_DOCS_IMAGES

const std::set<std::string> kPrograms = {"vserver",      "vserver-stat",     "vps", "vkill", "vtop",
                                         "vserver-base", "vserver-autostart"};
const std::set<std::string> kShell = {"echo", "printf", "mkdir", "touch", "ln", "cd", "ip"};

struct Example {
  int line = 0;
  std::string command;              // as run (comment kept: the shell drops it)
  std::string key;                  // the same with its prompt, without its trailing comment,
                                    // runs of spaces collapsed: what kRules and kPreparations name
  std::vector<std::string> output;  // lines shown under a prompted command
};

std::string first_word(const std::string& s) {
  auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  return s.substr(b, s.find(' ', b) - b);
}

// The command without a trailing "# comment" (a "#" after a space, outside quotes), with runs of
// spaces collapsed.
std::string key_of(const std::string& cmd) {
  std::string out;
  char quote = 0;
  for (size_t i = 0; i < cmd.size(); ++i) {
    char c = cmd[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '#' && i > 0 && cmd[i - 1] == ' ') {
      break;
    }
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// A message the program prints ("vserver web: ...", "vserver web (guest's first process): ...").
bool is_message(const std::string& line) {
  std::istringstream words(line);
  std::string program;
  std::string name;
  words >> program >> name;
  if (!name.empty() && name.back() == ':') return true;
  auto paren = line.find(" (");
  return paren != std::string::npos && line.find("): ", paren) != std::string::npos;
}

// A synopsis has placeholders: "[OPTIONS]", "NAME", "CMD" (signal names are no placeholders).
bool is_synopsis(const std::string& key) {
  static const std::set<std::string> signals = {"HUP",  "INT",  "KILL", "TERM",
                                                "QUIT", "STOP", "CONT"};
  std::istringstream words(key);
  std::string w;
  words >> w;  // the program
  while (words >> w) {
    if (w[0] == '[') return true;
    if (w.size() >= 3 && signals.count(w) == 0 && std::all_of(w.begin(), w.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
        })) {
      return true;
    }
  }
  return false;
}

std::vector<Example> examples_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::vector<Example> out;
  bool in_output = false;  // the lines under a prompted command
  bool prev_blank = true;
  bool in_code = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    bool blank = l.find_first_not_of(' ') == std::string::npos;
    if (blank) {
      in_output = false;
      prev_blank = true;
      continue;
    }
    bool indented = l.rfind("    ", 0) == 0;
    in_code = indented && (in_code || prev_blank);
    prev_blank = false;
    if (!in_code) {
      in_output = false;
      continue;
    }
    std::string text = l.substr(4);
    bool prompt = text.rfind("# ", 0) == 0 || text.rfind("$ ", 0) == 0;
    if (prompt) text = text.substr(2);
    std::string word = first_word(text);
    bool command = (kPrograms.count(word) != 0 || kShell.count(word) != 0) && text[0] != ' ' &&
                   !is_message(text);
    if (!command || in_output) {
      if (in_output) out.back().output.push_back(l.substr(4));
      continue;
    }
    Example e;
    e.line = static_cast<int>(i) + 1;
    e.command = text;
    while (!e.command.empty() && e.command.back() == '\\' && i + 1 < lines.size()) {
      e.command.pop_back();
      std::string next = lines[++i];
      next.erase(0, next.find_first_not_of(' '));
      e.command += next;
    }
    e.key = key_of(e.command);
    if (kPrograms.count(word) != 0 && is_synopsis(e.key)) continue;
    if (prompt) e.key = "# " + e.key;
    in_output = prompt;
    out.push_back(e);
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
}

// The docs' paths, and where the test's roots put them.
std::vector<std::pair<std::string, std::string>> moves(const Env& env) {
  fs::path root = env.config_root().parent_path();
  return {{"/etc/vservers", env.config_root().string()},
          {"/var/lib/vservers", env.vdir_root().string()},
          {"/run/vservers", env.run_root().string()},
          {"/var/log/vservers", env.log_root().string()},
          {"/srv/", (root / "srv").string() + "/"}};
}

std::string moved(const Env& env, std::string s) {
  for (const auto& [from, to] : moves(env)) replace_all(s, from, to);
  return s;
}

std::string unmoved(const Env& env, std::string s) {
  for (const auto& [from, to] : moves(env)) replace_all(s, to, from);
  return s;
}

Result shell(const Env& env, const std::string& cwd, const std::string& script) {
  fs::path bin = env.config_root().parent_path() / "bin";
  const char* path = std::getenv("PATH");
  std::string full = "PATH=" + bin.string() + ":" + (path != nullptr ? path : "/usr/bin:/bin") +
                     "\ncd " + cwd + " || exit 99\n" + moved(env, script);
  return env.run_program("/bin/sh", {"-c", full}, "", 90);
}

// Whether a line of output the doc shows is in what the command printed: numbers (contexts,
// counts, times) may differ, and so may runs of spaces; "..." stands for lines left out.
bool shown_in(const std::string& printed, const std::string& line) {
  std::string pattern;
  bool digits = false;
  bool space = false;
  for (char c : line) {
    bool d = c >= '0' && c <= '9';
    bool sp = c == ' ';
    if (d && digits) continue;
    if (sp && space) continue;
    digits = d;
    space = sp;
    if (d) {
      pattern += "[0-9]+";
    } else if (sp) {
      pattern += " +";
    } else if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      pattern += std::string("\\") + c;
    } else {
      pattern += c;
    }
  }
  if (line.find_first_not_of(" .") == std::string::npos) return true;
  return std::regex_search(printed, std::regex(pattern));
}

int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

// Stops every guest in the test's roots and removes the namespace, however the test ends.
struct Cleanup {
  const Env& env;
  std::string netns;
  ~Cleanup() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(env.config_root(), ec)) {
      std::string name = e.path().filename().string();
      if (name[0] != '.') env.run({name, "stop", "--timeout", "2"}, "", 60);
    }
    sh("ip netns del " + netns);
    // The test's cgroup parent (see below), in every hierarchy; the guests' own went with them.
    for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      for (const fs::path& root : {h.path(), h.path() / "unified"}) {
        ::rmdir((root / netns / "vservers").c_str());
        ::rmdir((root / netns).c_str());
      }
    }
    ::rmdir((fs::path("/sys/fs/cgroup") / netns / "vservers").c_str());
    ::rmdir((fs::path("/sys/fs/cgroup") / netns).c_str());
  }
};

std::vector<std::string> doc_files() {
  fs::path src = VSERVER_SOURCE_DIR;
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(src / "docs")) {
    if (e.path().extension() == ".md") out.push_back("docs/" + e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  out.insert(out.begin(), "README.md");
  return out;
}

class Docs : public ::testing::TestWithParam<std::string> {};

TEST_P(Docs, ExamplesRunAsWritten) {
  REQUIRE_ROOT();
  const std::string file = GetParam();
  std::vector<Example> examples = examples_of(fs::path(VSERVER_SOURCE_DIR) / file);

  std::map<std::string, const Rule*> rules;
  std::set<std::string> used;
  for (const auto& r : kRules) {
    if (file == r.file) rules[r.command] = &r;
  }

  Env env;
  const std::string netns = "vsdoc" + std::to_string(::getpid());
  Cleanup cleanup{env, netns};
  ASSERT_EQ(sh("ip netns add " + netns), 0);
  ASSERT_EQ(sh("ip -n " + netns + " link set lo up"), 0);
  // The doc's "eth0" (the host's LAN) is one end of a veth pair of the test's namespace.
  ASSERT_EQ(sh("ip -n " + netns + " link add eth0 type veth peer name lan0"), 0);
  ASSERT_EQ(sh("ip -n " + netns + " link set eth0 up"), 0);
  ASSERT_EQ(sh("ip -n " + netns + " link set lan0 up"), 0);
  env.use_netns(netns);
  fs::create_directories(env.config_root().parent_path() / "srv");
  // The docs name their guests web, deb, a, ...: a cgroup parent of this test's own keeps them
  // apart from the other docs' tests running at the same time and from the host's guests. It
  // ends in "vservers", where vps, vkill and vserver-stat look for guests.
  env.write_config(".defaults", "cgroup/base", netns + "/vservers\n");

  // Each setup runs once, before the first example its key names.
  std::vector<const Preparation*> setups;
  for (const auto& s : kPreparations) {
    if (file == s.file) setups.push_back(&s);
  }
  auto set_up = [&](const std::string& key) {
    for (auto it = setups.begin(); it != setups.end();) {
      if ((*it)->before != key) {
        ++it;
        continue;
      }
      Result r = shell(env, "/", (*it)->script);
      EXPECT_EQ(r.rc, 0) << file << ": setup before \"" << key << "\": " << r;
      it = setups.erase(it);
    }
  };
  set_up("");

  std::string cwd = "/";
  for (const auto& e : examples) {
    const std::string where = file + ":" + std::to_string(e.line) + ": " + e.key;
    set_up(e.key);
    const Rule* rule = nullptr;
    if (auto it = rules.find(e.key); it != rules.end()) {
      rule = it->second;
      used.insert(e.key);
    }
    if (rule != nullptr && rule->kind == Kind::Exclude) continue;
    if (first_word(e.key) == "cd") cwd = moved(env, e.key.substr(3));
    Result r;
    if (rule != nullptr && rule->kind == Kind::Terminal) {
      std::istringstream words(moved(env, e.key));
      std::vector<std::string> args;
      for (std::string w; words >> w;) args.push_back(w);
      ASSERT_EQ(args.at(0), "vserver") << where;
      args.erase(args.begin());
      r = env.run_on_pty(args, rule->input);
    } else {
      r = shell(env, cwd, e.command);
    }
    std::string printed = unmoved(env, r.out + r.err);
    if (rule != nullptr && rule->kind == Kind::Fails) {
      EXPECT_NE(r.rc, 0) << where << " (the doc shows it failing)\n" << r;
    } else {
      EXPECT_EQ(r.rc, 0) << where << "\n" << r;
    }
    if (rule != nullptr && (rule->kind == Kind::Output || rule->kind == Kind::Fails)) {
      for (const auto& line : e.output) {
        EXPECT_TRUE(shown_in(printed, line))
            << where << ": the doc shows\n  " << line << "\nbut it printed\n"
            << printed;
      }
    }
  }
  for (const auto& [key, rule] : rules) {
    EXPECT_TRUE(used.count(key) != 0) << "a rule for " << file << " matches no example: " << key;
  }
  for (const auto* s : setups) {
    ADD_FAILURE() << "a setup for " << file << " matches no example: " << s->before;
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n;
  for (char c : info.param) n += std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Docs, Docs, ::testing::ValuesIn(doc_files()), test_name);

// Every rule names a file that exists, and every exclusion says why.
TEST(DocsRules, NameFilesAndReasons) {
  for (const auto& r : kRules) {
    EXPECT_TRUE(fs::exists(fs::path(VSERVER_SOURCE_DIR) / r.file)) << r.file;
    if (r.kind == Kind::Exclude) {
      EXPECT_NE(std::string(r.why), "") << r.file << ": " << r.command;
    }
  }
  for (const auto& s : kPreparations) {
    EXPECT_TRUE(fs::exists(fs::path(VSERVER_SOURCE_DIR) / s.file)) << s.file;
  }
}

}  // namespace
