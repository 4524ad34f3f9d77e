/*
 * The tracer's /init for a stock Linux kernel: mount /proc and /dev, run the programs listed
 * in /tracer/run one after another, say how each ended on the console, and power off.
 *
 * /tracer/run: one program a line, its path then its arguments, separated by tabs.
 * The kallsyms boot: with /tracer/kallsyms in the initramfs, or tracer_kallsyms=1 on the
 * kernel command line (the kernel hands unknown key=value words to init as environment), the
 * kernel's /proc/kallsyms is copied between two marker lines, before any program, to QEMU's
 * debug console (port 0xe9, -debugcon) when init may use it: a byte there costs no tty layer,
 * and the 4 MB dump takes about a second instead of twenty on the serial console. Otherwise to
 * the console.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_LIST "/tracer/run"
#define KALLSYMS_FLAG "/tracer/kallsyms"
#define MAX_ARGS 64
#define MAX_LINE 4096
#define DEBUGCON_PORT 0xe9

static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 1)
		n = sizeof line - 1;
	(void)!write(STDOUT_FILENO, line, (size_t)n);
}

static void open_console(void)
{
	/* The kernel opened /dev/console for us when the initramfs has it; if not, try again
	 * once devtmpfs is mounted. */
	if (fcntl(STDOUT_FILENO, F_GETFD) != -1)
		return;
	int fd = open("/dev/console", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static void mount_filesystems(void)
{
	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	if (mount("proc", "/proc", "proc", 0, NULL) != 0)
		say("tracer-init: mount /proc: %s\n", strerror(errno));
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
		say("tracer-init: mount /dev: %s\n", strerror(errno));
}

static int want_kallsyms(void)
{
	const char *env = getenv("tracer_kallsyms");
	return access(KALLSYMS_FLAG, F_OK) == 0 || (env != NULL && strcmp(env, "1") == 0);
}

static int use_debugcon;

static void emit(const char *buf, size_t len)
{
	if (use_debugcon) {
		outsb(DEBUGCON_PORT, buf, len);
		return;
	}
	for (size_t done = 0; done < len;) {
		ssize_t w = write(STDOUT_FILENO, buf + done, len - done);
		if (w <= 0)
			return;
		done += (size_t)w;
	}
}

static void dump_kallsyms(void)
{
	int fd = open("/proc/kallsyms", O_RDONLY);
	if (fd < 0) {
		say("tracer-init: /proc/kallsyms: %s\n", strerror(errno));
		return;
	}
	use_debugcon = ioperm(DEBUGCON_PORT, 1, 1) == 0;
	say("tracer-init: kallsyms to the %s\n", use_debugcon ? "debug console" : "console");
	static const char begin[] = "tracer-kallsyms-begin\n", end[] = "tracer-kallsyms-end\n";
	emit(begin, sizeof begin - 1);
	static char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		emit(buf, (size_t)n);
	emit(end, sizeof end - 1);
	close(fd);
}

/* Split one run-list line at tabs, in place, into argv. */
static int split_args(char *line, char **argv)
{
	int argc = 0;
	line[strcspn(line, "\n")] = '\0';
	for (char *word = line; word != NULL && argc < MAX_ARGS;) {
		char *tab = strchr(word, '\t');
		if (tab != NULL)
			*tab = '\0';
		argv[argc++] = word;
		word = tab != NULL ? tab + 1 : NULL;
	}
	argv[argc] = NULL;
	return argv[0][0] == '\0' ? 0 : argc;
}

static void run(char **argv)
{
	static char *const envp[] = { "PATH=/bin:/sbin:/usr/bin", "HOME=/", "TERM=linux", NULL };
	say("tracer-init: run %s\n", argv[0]);
	pid_t pid = fork();
	if (pid < 0) {
		say("tracer-init: fork: %s\n", strerror(errno));
		return;
	}
	if (pid == 0) {
		execve(argv[0], argv, envp);
		say("tracer-init: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		say("tracer-init: %s exited %d\n", argv[0], WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		say("tracer-init: %s killed by signal %d\n", argv[0], WTERMSIG(status));
}

static void run_list(void)
{
	FILE *list = fopen(RUN_LIST, "r");
	if (list == NULL) {
		say("tracer-init: %s: %s\n", RUN_LIST, strerror(errno));
		return;
	}
	static char line[MAX_LINE];
	char *argv[MAX_ARGS + 1];
	while (fgets(line, sizeof line, list) != NULL) {
		if (split_args(line, argv) > 0)
			run(argv);
	}
	fclose(list);
}

int main(void)
{
	open_console();
	mount_filesystems();
	open_console();
	say("tracer-init: started\n");
	if (want_kallsyms())
		dump_kallsyms();
	run_list();
	say("tracer-init: powering off\n");
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause(); /* PID 1 must not exit: the kernel would panic */
}
