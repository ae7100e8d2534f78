#define _POSIX_C_SOURCE 200809L
#include "node_runner.h"

#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads fd to end of file into buf (at most cap bytes kept). */
static size_t read_all(int fd, uint8_t* buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    uint8_t tmp[1024];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n <= 0) break;
    size_t take = (size_t)n < cap - len ? (size_t)n : cap - len;
    memcpy(buf + len, tmp, take);
    len += take;
  }
  return len;
}

int node_run(const char* node, const char* const* args, const uint8_t* input,
             size_t input_len, node_run_result* r) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  memset(r, 0, sizeof(*r));
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    const char* argv[16];
    size_t n = 0;
    argv[n++] = node;
    while (n < 15 && args[n - 1] != NULL) {
      argv[n] = args[n - 1];
      ++n;
    }
    argv[n] = NULL;
    execv(node, (char* const*)argv);
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  size_t done = 0;
  while (done < input_len) {
    ssize_t n = write(in_pipe[1], input + done, input_len - done);
    if (n <= 0) break;
    done += (size_t)n;
  }
  close(in_pipe[1]);
  r->out_len = read_all(out_pipe[0], r->out, sizeof(r->out));
  close(out_pipe[0]);
  size_t e = read_all(err_pipe[0], (uint8_t*)r->err, sizeof(r->err) - 1);
  r->err[e] = '\0';
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return 0;
}
