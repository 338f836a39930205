#include "provision/method.hpp"

namespace vs::provision::detail {

const BuildMethod& method_for(Method m) {
  switch (m) {
    case Method::skeleton:
      return skeleton_method();
    case Method::archive:
      return archive_method();
    case Method::clone:
      return clone_method();
    case Method::busybox:
      return busybox_method();
    case Method::base:
      return base_method();
    case Method::debootstrap:
      return debootstrap_method();
    case Method::rsync:
      return rsync_method();
  }
  throw Error("unknown build method");
}

}  // namespace vs::provision::detail
