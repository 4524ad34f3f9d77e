/* Linux x86-64 syscall numbers and the handlers the table points at. */
#ifndef GUEST_SYSCALLS_H
#define GUEST_SYSCALLS_H

#include "compiler.h"

#define __NR_read 0
#define __NR_write 1
#define __NR_open 2
#define __NR_close 3
#define __NR_stat 4
#define __NR_fstat 5
#define __NR_lstat 6
#define __NR_lseek 8
#define __NR_mmap 9
#define __NR_mprotect 10
#define __NR_munmap 11
#define __NR_brk 12
#define __NR_rt_sigaction 13
#define __NR_rt_sigprocmask 14
#define __NR_ioctl 16
#define __NR_pread64 17
#define __NR_pwrite64 18
#define __NR_readv 19
#define __NR_writev 20
#define __NR_access 21
#define __NR_madvise 28
#define __NR_sched_yield 24
#define __NR_nanosleep 35
#define __NR_getpid 39
#define __NR_clone 56
#define __NR_exit 60
#define __NR_wait4 61
#define __NR_kill 62
#define __NR_uname 63
#define __NR_fcntl 72
#define __NR_getcwd 79
#define __NR_readlink 89
#define __NR_umask 95
#define __NR_gettimeofday 96
#define __NR_getrlimit 97
#define __NR_getuid 102
#define __NR_getgid 104
#define __NR_geteuid 107
#define __NR_getegid 108
#define __NR_getppid 110
#define __NR_sigaltstack 131
#define __NR_arch_prctl 158
#define __NR_setrlimit 160
#define __NR_gettid 186
#define __NR_tkill 200
#define __NR_time 201
#define __NR_futex 202
#define __NR_sched_setaffinity 203
#define __NR_sched_getaffinity 204
#define __NR_set_tid_address 218
#define __NR_clock_gettime 228
#define __NR_clock_getres 229
#define __NR_clock_nanosleep 230
#define __NR_exit_group 231
#define __NR_tgkill 234
#define __NR_openat 257
#define __NR_newfstatat 262
#define __NR_readlinkat 267
#define __NR_faccessat 269
#define __NR_set_robust_list 273
#define __NR_preadv 295
#define __NR_pwritev 296
#define __NR_prlimit64 302
#define __NR_getcpu 309
#define __NR_getrandom 318
#define __NR_rseq 334
#define __NR_clone3 435
#define __NR_faccessat2 439
#define NR_syscalls 463

typedef unsigned long ulong;
typedef long (*sys_call_ptr_t)(ulong, ulong, ulong, ulong, ulong, ulong);

extern const sys_call_ptr_t sys_call_table[NR_syscalls];

/* Handlers take only the arguments they use; the table calls all of them with six. */
#define SYSCALL_PROTO(name) long sys_##name()
SYSCALL_PROTO(read);
SYSCALL_PROTO(write);
SYSCALL_PROTO(open);
SYSCALL_PROTO(close);
SYSCALL_PROTO(stat);
SYSCALL_PROTO(fstat);
SYSCALL_PROTO(lseek);
SYSCALL_PROTO(mmap);
SYSCALL_PROTO(mprotect);
SYSCALL_PROTO(munmap);
SYSCALL_PROTO(brk);
SYSCALL_PROTO(rt_sigaction);
SYSCALL_PROTO(rt_sigprocmask);
SYSCALL_PROTO(ioctl);
SYSCALL_PROTO(pread64);
SYSCALL_PROTO(readv);
SYSCALL_PROTO(writev);
SYSCALL_PROTO(access);
SYSCALL_PROTO(sched_yield);
SYSCALL_PROTO(nanosleep);
SYSCALL_PROTO(getpid);
SYSCALL_PROTO(exit);
SYSCALL_PROTO(wait4);
SYSCALL_PROTO(kill);
SYSCALL_PROTO(uname);
SYSCALL_PROTO(fcntl);
SYSCALL_PROTO(getcwd);
SYSCALL_PROTO(readlink);
SYSCALL_PROTO(umask);
SYSCALL_PROTO(gettimeofday);
SYSCALL_PROTO(getrlimit);
SYSCALL_PROTO(getuid);
SYSCALL_PROTO(getppid);
SYSCALL_PROTO(sigaltstack);
SYSCALL_PROTO(arch_prctl);
SYSCALL_PROTO(setrlimit);
SYSCALL_PROTO(gettid);
SYSCALL_PROTO(tkill);
SYSCALL_PROTO(time);
SYSCALL_PROTO(futex);
SYSCALL_PROTO(set_tid_address);
SYSCALL_PROTO(clock_gettime);
SYSCALL_PROTO(clock_getres);
SYSCALL_PROTO(clock_nanosleep);
SYSCALL_PROTO(exit_group);
SYSCALL_PROTO(tgkill);
SYSCALL_PROTO(openat);
SYSCALL_PROTO(newfstatat);
SYSCALL_PROTO(readlinkat);
SYSCALL_PROTO(faccessat);
SYSCALL_PROTO(set_robust_list);
SYSCALL_PROTO(prlimit64);
SYSCALL_PROTO(getrandom);
SYSCALL_PROTO(rseq);
SYSCALL_PROTO(faccessat2);
SYSCALL_PROTO(madvise);
SYSCALL_PROTO(getcpu);
SYSCALL_PROTO(clone);
SYSCALL_PROTO(clone3);
SYSCALL_PROTO(sched_setaffinity);
SYSCALL_PROTO(sched_getaffinity);

#endif
