// libarchive, loaded when the template build method first needs it. The vserver binary does not
// link libarchive (nor the libraries it pulls in: libxml2, ICU, nettle, acl, the compressors), so
// that start, exec, stop and the guests' supervisors do not pay for loading and relocating them.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace vs::provision::detail {

// The libarchive functions the template method calls, resolved from one loaded copy.
class LibArchive {
 public:
  // The library's name in Debian's libarchive13 package (ABI 13).
  static constexpr const char* kSoname = "libarchive.so.13";

  // The process's copy, loaded on first use. Throws Error when the library or one of its
  // functions is missing.
  static const LibArchive& get();
  // Loads soname and resolves every function. Throws Error naming the library and what the
  // dynamic loader said.
  explicit LibArchive(const char* soname);

  decltype(&::archive_read_new) read_new = nullptr;
  decltype(&::archive_read_free) read_free = nullptr;
  decltype(&::archive_read_support_filter_all) read_support_filter_all = nullptr;
  decltype(&::archive_read_support_format_all) read_support_format_all = nullptr;
  decltype(&::archive_read_open_filename) read_open_filename = nullptr;
  decltype(&::archive_read_next_header) read_next_header = nullptr;
  decltype(&::archive_read_data_block) read_data_block = nullptr;
  decltype(&::archive_read_data_skip) read_data_skip = nullptr;
  decltype(&::archive_write_disk_new) write_disk_new = nullptr;
  decltype(&::archive_write_disk_set_options) write_disk_set_options = nullptr;
  decltype(&::archive_write_free) write_free = nullptr;
  decltype(&::archive_write_header) write_header = nullptr;
  decltype(&::archive_write_data_block) write_data_block = nullptr;
  decltype(&::archive_write_finish_entry) write_finish_entry = nullptr;
  decltype(&::archive_write_close) write_close = nullptr;
  decltype(&::archive_error_string) error_string = nullptr;
  decltype(&::archive_errno) error_number = nullptr;
  decltype(&::archive_entry_pathname) entry_pathname = nullptr;
  decltype(&::archive_entry_pathname_utf8) entry_pathname_utf8 = nullptr;
  decltype(&::archive_entry_set_pathname) entry_set_pathname = nullptr;
  decltype(&::archive_entry_hardlink) entry_hardlink = nullptr;
  decltype(&::archive_entry_set_hardlink) entry_set_hardlink = nullptr;
  decltype(&::archive_entry_filetype) entry_filetype = nullptr;
  decltype(&::archive_entry_rdevmajor) entry_rdevmajor = nullptr;
  decltype(&::archive_entry_rdevminor) entry_rdevminor = nullptr;
  decltype(&::archive_read_data) read_data = nullptr;
  // Writing archives (vserver NAME export).
  decltype(&::archive_write_new) write_new = nullptr;
  decltype(&::archive_write_set_format_pax_restricted) write_set_format_pax_restricted = nullptr;
  decltype(&::archive_write_add_filter_gzip) write_add_filter_gzip = nullptr;
  decltype(&::archive_write_add_filter_xz) write_add_filter_xz = nullptr;
  decltype(&::archive_write_add_filter_zstd) write_add_filter_zstd = nullptr;
  decltype(&::archive_write_open_fd) write_open_fd = nullptr;
  decltype(&::archive_write_data) write_data = nullptr;
  decltype(&::archive_read_disk_new) read_disk_new = nullptr;
  decltype(&::archive_read_disk_entry_from_file) read_disk_entry_from_file = nullptr;
  decltype(&::archive_entry_new) entry_new = nullptr;
  decltype(&::archive_entry_free) entry_free = nullptr;
  decltype(&::archive_entry_copy_sourcepath) entry_copy_sourcepath = nullptr;
  decltype(&::archive_entry_copy_stat) entry_copy_stat = nullptr;
  decltype(&::archive_entry_set_size) entry_set_size = nullptr;
  decltype(&::archive_entry_set_filetype) entry_set_filetype = nullptr;
  decltype(&::archive_entry_set_perm) entry_set_perm = nullptr;
  decltype(&::archive_entry_set_mtime) entry_set_mtime = nullptr;

 private:
  struct Closer {
    void operator()(void* handle) const noexcept;
  };
  template <typename F>
  void bind(F& slot, const char* name);

  const char* soname_;
  std::unique_ptr<void, Closer> handle_;
};

}  // namespace vs::provision::detail
