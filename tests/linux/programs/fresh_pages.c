/* Syscall buffers in pages the program never touched: Linux maps them only when the kernel
 * itself faults on them, so at the syscall's entry they are not there to read. */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static char fresh[4 * PAGE] __attribute__((aligned(PAGE)));

int main(void) {
    /* Input from an untouched bss page: the kernel's read maps the zero page. */
    write(1, fresh + PAGE, 8);
    /* Output into an untouched page: the kernel's copy maps it. */
    int fd = open("/init", O_RDONLY);
    read(fd, fresh + 2 * PAGE, 4);
    /* A path in an untouched anonymous mapping: the kernel faults it in to read it. */
    char *anon = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    open(anon + PAGE, O_RDONLY);
    /* Never readable: the kernel refuses it (EFAULT) and no page ever appears. */
    char *none = mmap(0, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    write(1, none, 8);
    return 0;
}
