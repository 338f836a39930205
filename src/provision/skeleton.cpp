// build -m skeleton: the configuration plus an empty root with the standard directories, and a
// command run in it afterwards. The skeleton root is also what every new guest starts from.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/internal.hpp"
#include "provision/method.hpp"
#include "sys/error.hpp"
#include "sys/file.hpp"

namespace vs::provision::detail {

void populate_skeleton(const Root& root, const std::string& hostname) {
  make_standard_dirs(root, false);
  write_file_in(root, "etc/hostname", hostname + "\n");
  write_file_in(root, "etc/hosts", hosts_file(hostname));
}

namespace {

class Skeleton final : public BuildMethod {
 public:
  void validate(const BuildOptions& /*o*/) const override {}
  void check(Build& /*b*/) const override {}
  void populate(Build& b) const override {
    populate_skeleton(*b.root, b.hostname);
    copy_default_files(b.roots, *b.root);
    if (!b.o.command.empty()) {
      run_command(b.o.command, b.tmp_vdir,
                  {"VSERVER_VDIR=" + b.tmp_vdir.string(), "VSERVER_NAME=" + b.o.name,
                   "VSERVER_CFGDIR=" + b.tmp_cfg.string()},
                  false);
    }
  }
  [[nodiscard]] bool writes_own_hosts() const override { return true; }
};

}  // namespace

const BuildMethod& skeleton_method() {
  static const Skeleton m;
  return m;
}

}  // namespace vs::provision::detail
