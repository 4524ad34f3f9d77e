/* The few libc string functions the kernel needs (gcc may also emit calls to them). */
#ifndef GUEST_STRING_H
#define GUEST_STRING_H

#include "compiler.h"

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strrchr(const char *s, int c);
size_t strlcpy(char *dst, const char *src, size_t size);
bool parse_u64(const char *s, u64 *out);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
