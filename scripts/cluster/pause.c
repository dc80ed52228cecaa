/*
 * The process of a pod's sandbox container: it only has to exist, so that the
 * pod's namespaces outlive its app containers. It sleeps until a signal
 * arrives; it reaps children that the kernel reparents to it (when the pod
 * shares one PID namespace, it is PID 1) and exits on SIGINT or SIGTERM.
 *
 * The signals are blocked and taken with sigwait: as PID 1 of a namespace, a
 * process would never see a signal left at its default action, but a blocked
 * one is always queued.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

int main(void) {
  sigset_t wanted;
  int sig;

  sigemptyset(&wanted);
  sigaddset(&wanted, SIGCHLD);
  sigaddset(&wanted, SIGINT);
  sigaddset(&wanted, SIGTERM);
  sigprocmask(SIG_BLOCK, &wanted, NULL);
  for (;;) {
    if (sigwait(&wanted, &sig) != 0) continue;
    if (sig != SIGCHLD) return 0;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
  }
}
