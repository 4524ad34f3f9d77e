/* Offsets into struct task used by the context-switch assembly (checked in task.c). */
#ifndef GUEST_TASK_OFFSETS_H
#define GUEST_TASK_OFFSETS_H

#define TASK_thread_sp 0

#endif
