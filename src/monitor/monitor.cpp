// vserver-monitor: what a detached guest's supervisor is while the guest runs.
//
// The supervisor (src/runtime/supervisor.cpp) sets the guest up with the whole library. Once the
// guest's init runs, it replaces itself with this program by execve(2): the same pid, still the
// parent of init, the same blocked signals (a signal that arrives meanwhile stays pending). Here it
// waits for init to end and passes stop requests on, with nothing resident but this program: no
// heap, no C++ runtime, a few pages of its own. When init has ended it executes the vserver binary
// again, as "vserver-supervisor NAME", which removes what the guest left on the host and, after a
// reboot from inside, starts the guest again (runtime::resume_supervision).
//
// Its inputs are in the environment, set by the supervisor:
//   VSERVER_SUPERVISOR_INIT    the guest's init (a child of this process)
//   VSERVER_SUPERVISOR_SIGNAL  the signal that asks the guest's init to stop (SIGTERM, SIGHUP)
//   VSERVER_SUPERVISOR_EXE_FD  an open descriptor of the vserver binary that started the guest
// and it adds, for the vserver binary:
//   VSERVER_SUPERVISOR_WSTATUS  init's wait status
//   VSERVER_SUPERVISOR_STOP     1 when vserver stop (SIGUSR1) or SIGTERM/SIGHUP asked for the end
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr char kInit[] = "VSERVER_SUPERVISOR_INIT";
constexpr char kSignal[] = "VSERVER_SUPERVISOR_SIGNAL";
constexpr char kExeFd[] = "VSERVER_SUPERVISOR_EXE_FD";
constexpr char kWstatus[] = "VSERVER_SUPERVISOR_WSTATUS";
constexpr char kStop[] = "VSERVER_SUPERVISOR_STOP";

// A non-negative decimal from the environment; -1 when absent or malformed.
long env_number(const char* name) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < 0) return -1;
  return n;
}

bool starts_with_var(const char* entry, const char* name) {
  size_t n = strlen(name);
  return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

}  // namespace

int main(int argc, char** argv, char** envp) {
  const char* guest = argc > 1 ? argv[1] : "?";
  long init = env_number(kInit);
  long graceful = env_number(kSignal);
  long exe_fd = env_number(kExeFd);
  if (init <= 0 || graceful <= 0 || graceful >= NSIG || exe_fd < 0) {
    fprintf(stderr,
            "vserver-monitor: this program is started by the supervisor of a guest (vserver NAME "
            "start), not by hand\n");
    return 2;
  }
  auto pid = static_cast<pid_t>(init);

  sigset_t set;
  sigemptyset(&set);
  const int signals[] = {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1};
  for (int s : signals) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);  // already blocked by the supervisor; kept so

  bool stop = false;
  int wstatus = 0;
  bool have_status = false;
  for (;;) {
    pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) {
      have_status = true;
      break;
    }
    if (r < 0 && errno != EINTR) break;  // ECHILD: not ours after all; nothing to wait for
    siginfo_t si;
    if (sigwaitinfo(&set, &si) < 0) continue;
    switch (si.si_signo) {
      case SIGUSR1:  // vserver stop is stopping the guest: it is not restarted
        stop = true;
        break;
      case SIGTERM:  // the supervisor asked to end (host shutdown): the guest stops as its style
      case SIGHUP:   // wants
        stop = true;
        kill(pid, static_cast<int>(graceful));
        break;
      default:  // SIGCHLD: check init; SIGINT and SIGQUIT are for a foreground guest only
        break;
    }
  }

  // The vserver binary does the rest: this environment, less the values it is told anew.
  static char status_var[64];
  snprintf(status_var, sizeof status_var, "%s=%d", kWstatus, wstatus);
  static char stop_var[] = "VSERVER_SUPERVISOR_STOP=1";
  constexpr size_t kMaxEnv = 1024;
  static char* env[kMaxEnv + 3];
  size_t n = 0;
  if (have_status) env[n++] = status_var;
  if (stop) env[n++] = stop_var;
  for (char** e = envp; *e != nullptr && n < kMaxEnv; ++e) {
    if (starts_with_var(*e, kWstatus) || starts_with_var(*e, kStop)) continue;
    env[n++] = *e;
  }
  env[n] = nullptr;
  fexecve(static_cast<int>(exe_fd), argv, env);
  fprintf(stderr,
          "vserver %s: run the vserver binary to clean up after the guest's init: %s; "
          "'vserver %s stop' removes what is left\n",
          guest, strerror(errno), guest);
  if (!have_status) return 1;
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  return 128 + WTERMSIG(wstatus);
}
