// Package execworker runs one job as an external command, the way OMA runs
// `python3 worker.py`: the job's JSON on standard input, its identity in
// ROTA_* environment variables, its result as the last line of standard
// output, and its exit status as the outcome.
//
// The protocol, from the command's side:
//
//   - stdin is the job as JSON on one line (newline-terminated); ROTA_JOB_ID, ROTA_JOB_KIND, ROTA_JOB_QUEUE,
//     ROTA_JOB_KEY and ROTA_ATTEMPT say which job and which attempt it is;
//   - exit 0 is success; if the last non-empty line of stdout is JSON, it is
//     the job's result;
//   - exit 75 (EX_TEMPFAIL, sysexits.h) asks to be retried later;
//   - any other exit status, or death by a signal, is a failure, reported
//     with the tail of stderr;
//   - on abort, timeout or shutdown the whole process group gets SIGTERM,
//     then SIGKILL after a grace period.
//
// The command runs in its own process group, and Run does not return while
// anything in that group is still running: processes the command left behind
// are terminated too, even after a successful exit. The group's leader is a
// small /bin/sh supervisor that runs the command as its child: if rota
// itself dies (even by SIGKILL), the supervisor gets Linux's parent-death
// signal and SIGKILLs the whole group, the command and everything it
// started, so nothing of a job runs on beside its retry.
package execworker
