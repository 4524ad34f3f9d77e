/*
 * File syscalls. There is no file system: fds 0, 1, 2 are the console (a tty-like character
 * device; reads see end-of-file, writes go to the serial port), every path lookup fails
 * except "/" and /proc/self/exe (for readlink).
 */
#include "console.h"
#include "errno.h"
#include "layout.h"
#include "string.h"
#include "syscalls.h"
#include "task.h"
#include "time.h"
#include "uaccess.h"
#include "uapi.h"

#define PROC_SELF_EXE "/proc/self/exe"

static bool fd_open(ulong fd)
{
	return fd < 3 && (group_of(current)->open_fds & (1u << fd));
}

static bool fd_writable(ulong fd)
{
	return (fd == 1 || fd == 2) && fd_open(fd);
}

/* Copy a path in; 0 or -EFAULT / -ENAMETOOLONG / -ENOENT (empty) like getname(). */
static long get_path(char *buf, ulong upath, bool allow_empty)
{
	long n = strncpy_from_user(buf, upath, PATH_MAX);
	if (n < 0)
		return n;
	if (n == PATH_MAX)
		return -ENAMETOOLONG;
	if (n == 0 && !allow_empty)
		return -ENOENT;
	return 0;
}

static long console_write_user(ulong buf, ulong count)
{
	if (!access_ok(buf, count))
		return -EFAULT;
	count = MIN(count, (ulong)MAX_RW_COUNT);
	ulong done = 0;
	while (done < count) {
		size_t c = MIN(count - done, PAGE_SIZE - ((buf + done) & (PAGE_SIZE - 1)));
		const char *p = user_page_ptr(current->mm, buf + done, false);
		if (!p)
			return done ? (long)done : -EFAULT;
		console_write(p, c);
		done += c;
	}
	return done;
}

long sys_read(ulong fd, ulong buf, ulong count)
{
	if (fd != 0 || !fd_open(fd))
		return -EBADF;
	if (!access_ok(buf, count))
		return -EFAULT;
	return 0; /* the console has no input: end of file */
}

long sys_write(ulong fd, ulong buf, ulong count)
{
	if (!fd_writable(fd))
		return -EBADF;
	return console_write_user(buf, count);
}

static long iov_check(ulong uiov, ulong iovcnt, struct iovec *iov)
{
	if ((long)iovcnt < 0 || iovcnt > UIO_MAXIOV)
		return -EINVAL;
	if (copy_from_user(iov, uiov, iovcnt * sizeof(*iov)))
		return -EFAULT;
	ulong total = 0;
	for (ulong i = 0; i < iovcnt; i++) {
		if ((long)iov[i].iov_len < 0)
			return -EINVAL;
		total += iov[i].iov_len;
		if ((long)total < 0)
			return -EINVAL;
	}
	return 0;
}

long sys_readv(ulong fd, ulong uiov, ulong iovcnt)
{
	static struct iovec iov[UIO_MAXIOV];
	if (fd != 0 || !fd_open(fd))
		return -EBADF;
	return iov_check(uiov, iovcnt, iov);
}

long sys_writev(ulong fd, ulong uiov, ulong iovcnt)
{
	static struct iovec iov[UIO_MAXIOV];
	if (!fd_writable(fd))
		return -EBADF;
	long err = iov_check(uiov, iovcnt, iov);
	if (err)
		return err;
	long done = 0;
	for (ulong i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		long n = console_write_user(iov[i].iov_base,
					    MIN(iov[i].iov_len, (ulong)(MAX_RW_COUNT - done)));
		if (n < 0)
			return done ? done : n;
		done += n;
		if ((ulong)n < iov[i].iov_len || done >= MAX_RW_COUNT)
			break;
	}
	return done;
}

long sys_pread64(ulong fd)
{
	return fd_open(fd) ? -ESPIPE : -EBADF;
}

long sys_close(ulong fd)
{
	if (!fd_open(fd))
		return -EBADF;
	group_of(current)->open_fds &= ~(1u << fd);
	return 0;
}

long sys_lseek(ulong fd)
{
	return fd_open(fd) ? -ESPIPE : -EBADF;
}

long sys_ioctl(ulong fd)
{
	/* Not a real terminal: TCGETS, TIOCGWINSZ and the rest fail like on a pipe. */
	return fd_open(fd) ? -ENOTTY : -EBADF;
}

long sys_fcntl(ulong fd, ulong cmd)
{
	if (!fd_open(fd))
		return -EBADF;
	switch (cmd) {
	case 1: /* F_GETFD */
	case 2: /* F_SETFD */
	case 4: /* F_SETFL */
		return 0;
	case 3:		  /* F_GETFL */
		return 2; /* O_RDWR */
	default:
		return -EINVAL;
	}
}

static void fill_stat(struct linux_stat *st, bool dir, ulong fd)
{
	memset(st, 0, sizeof(*st));
	u64 now = ktime_get_real_ns();
	st->st_dev = dir ? 0x801 : 0x18;
	st->st_ino = dir ? 2 : 3 + fd;
	st->st_nlink = dir ? 2 : 1;
	st->st_mode = dir ? 0040755 : (S_IFCHR | 0620);
	st->st_gid = dir ? 0 : 5; /* tty */
	/* /dev/pts/0: major 136, which glibc recognises as a tty (line-buffered stdout). */
	st->st_rdev = dir ? 0 : (136 << 8);
	st->st_blksize = dir ? 4096 : 1024;
	st->st_size = dir ? 4096 : 0;
	st->st_blocks = dir ? 8 : 0;
	st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = now / NSEC_PER_SEC;
}

long sys_fstat(ulong fd, ulong statbuf)
{
	struct linux_stat st;
	if (!fd_open(fd))
		return -EBADF;
	fill_stat(&st, false, fd);
	return copy_to_user(statbuf, &st, sizeof(st)) ? -EFAULT : 0;
}

static bool is_root(const char *path)
{
	return !strcmp(path, "/") || !strcmp(path, ".") || !strcmp(path, "/.");
}

static long stat_path(const char *path, ulong statbuf)
{
	struct linux_stat st;
	if (!is_root(path))
		return -ENOENT;
	fill_stat(&st, true, 0);
	return copy_to_user(statbuf, &st, sizeof(st)) ? -EFAULT : 0;
}

long sys_stat(ulong upath, ulong statbuf)
{
	char path[PATH_MAX];
	long err = get_path(path, upath, false);
	return err ? err : stat_path(path, statbuf);
}

long sys_newfstatat(ulong dirfd, ulong upath, ulong statbuf, ulong flags)
{
	char path[PATH_MAX];
	if (flags & ~(ulong)(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
		return -EINVAL;
	long err = get_path(path, upath, flags & AT_EMPTY_PATH);
	if (err)
		return err;
	if (!path[0])
		return (int)dirfd == AT_FDCWD ? stat_path("/", statbuf) : sys_fstat(dirfd, statbuf);
	if (path[0] != '/' && (int)dirfd != AT_FDCWD)
		return fd_open(dirfd) ? -ENOTDIR : -EBADF;
	return stat_path(path, statbuf);
}

long sys_open(ulong upath)
{
	char path[PATH_MAX];
	long err = get_path(path, upath, false);
	return err ? err : -ENOENT;
}

long sys_openat(ulong dirfd, ulong upath)
{
	(void)dirfd;
	return sys_open(upath);
}

long sys_faccessat2(ulong dirfd, ulong upath, ulong mode, ulong flags)
{
	char path[PATH_MAX];
	(void)dirfd;
	if (mode & ~7UL)
		return -EINVAL;
	if (flags & ~(ulong)(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	long err = get_path(path, upath, false);
	if (err)
		return err;
	return is_root(path) ? 0 : -ENOENT;
}

long sys_faccessat(ulong dirfd, ulong upath, ulong mode)
{
	return sys_faccessat2(dirfd, upath, mode, 0);
}

long sys_access(ulong upath, ulong mode)
{
	return sys_faccessat2(AT_FDCWD, upath, mode, 0);
}

long sys_readlink(ulong upath, ulong buf, ulong bufsiz)
{
	char path[PATH_MAX];
	if ((int)bufsiz <= 0)
		return -EINVAL;
	long err = get_path(path, upath, false);
	if (err)
		return err;
	if (strcmp(path, PROC_SELF_EXE))
		return is_root(path) ? -EINVAL : -ENOENT;
	const char *exe = current->exe;
	size_t n = MIN(strlen(exe), (size_t)(int)bufsiz);
	return copy_to_user(buf, exe, n) ? -EFAULT : (long)n;
}

long sys_readlinkat(ulong dirfd, ulong upath, ulong buf, ulong bufsiz)
{
	(void)dirfd;
	return sys_readlink(upath, buf, bufsiz);
}

long sys_getcwd(ulong buf, ulong size)
{
	if (size < 2)
		return -ERANGE;
	return copy_to_user(buf, "/", 2) ? -EFAULT : 2;
}
