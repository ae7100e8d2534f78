/*
 * Test helper for the tinyfleet-node executable: runs it as a child process
 * with arguments and stdin input, and collects its stdout, stderr and exit
 * code. POSIX, host builds only.
 */
#ifndef TESTS_DEVICE_SIM_NODE_RUNNER_H_
#define TESTS_DEVICE_SIM_NODE_RUNNER_H_

#include <stddef.h>
#include <stdint.h>

typedef struct node_run_result {
  int exit_code;      /* -1 when killed by a signal, 127 when exec failed */
  uint8_t out[16384]; /* stdout; longer output is cut */
  size_t out_len;
  char err[4096]; /* stderr, NUL-terminated; longer output is cut */
} node_run_result;

/* Runs `node` with `args` (NULL-terminated, after argv[0]; at most 14),
 * writes `input` to its stdin and closes it, then reads stdout and stderr
 * to their ends and waits for the exit. The input must be small enough
 * that writing all of it before reading cannot block on a full pipe.
 * Returns 0, or -1 when the process could not be started. */
int node_run(const char* node, const char* const* args, const uint8_t* input,
             size_t input_len, node_run_result* r);

#endif /* TESTS_DEVICE_SIM_NODE_RUNNER_H_ */
