/*
 * Runs the parser on a large private stack, synchronously. libpg_query never arms the
 * server's stack-depth check, so a deeply nested statement recurses until the stack
 * ends: on a normal 8 MB stack a 130 KB `SELECT 1+1+...` kills the process. Here the
 * stack is big enough for any text under max_parse_bytes (about 64 B of stack per
 * byte of text at worst, see notes/libpg_query.md 4.5) and untouched pages cost nothing.
 *
 * How we get onto it: on x86-64 a 10-instruction call that swaps %rsp around an
 * ordinary function call (a few ns). Elsewhere ucontext, which makes a sigprocmask
 * system call per switch (2.5 us per call on this VM, where a syscall costs 1.2 us); a
 * handoff to a parser thread measured 15 us. Must never be entered recursively.
 */
#include "sql-int.h"

#include <malloc.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/*
 * AddressSanitizer must be told when the stack changes, or the longjmp that libpg_query
 * uses for errors looks like a jump across a huge frame. Weak, so that they resolve
 * whenever any part of the program is built with ASan (e.g. only the fuzzer).
 */
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size)
	__attribute__((weak));
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old) __attribute__((weak));

struct call {
	void (*fn)(void *);
	void *arg;
	const void *caller_bottom;
	size_t caller_size;
};

static void enter_annotated(void *p)
{
	struct call *c = p;

	if (__sanitizer_finish_switch_fiber)
		__sanitizer_finish_switch_fiber(NULL, &c->caller_bottom, &c->caller_size);
	c->fn(c->arg);
	/* NULL: this activation of the parser stack is over, drop its fake frames */
	if (__sanitizer_start_switch_fiber)
		__sanitizer_start_switch_fiber(NULL, c->caller_bottom, c->caller_size);
}

#if defined(__x86_64__)
/* void stack_call(void *arg, void (*fn)(void *), void *top): fn(arg) with %rsp = top */
void pgw_sql_stack_call(void *arg, void (*fn)(void *), void *top);
__asm__(".pushsection .text\n"
	".globl pgw_sql_stack_call\n"
	".hidden pgw_sql_stack_call\n"
	".type pgw_sql_stack_call, @function\n"
	"pgw_sql_stack_call:\n"
	"	.cfi_startproc\n"
	"	pushq %rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	movq %rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	movq %rdx, %rsp\n" /* top is 16-byte aligned, as a call site needs */
	"	callq *%rsi\n"	   /* %rdi is still arg */
	"	movq %rbp, %rsp\n"
	"	popq %rbp\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size pgw_sql_stack_call, .-pgw_sql_stack_call\n"
	".popsection\n");
#define HAVE_STACK_CALL 1
#else
#define HAVE_STACK_CALL 0
#endif

/* makecontext passes only ints: hand the call over in a thread-local instead */
static _Thread_local struct call *uc_call;

static void uc_entry(void)
{
	enter_annotated(uc_call);
}

/*
 * getcontext/setcontext rather than swapcontext: same cost (one more sigprocmask), and
 * ASan's swapcontext interceptor warns on every program that uses it even when, as
 * here, every switch is annotated.
 */
static void run_ucontext(struct call *c, char *bottom, size_t size)
{
	ucontext_t caller, co;
	volatile bool back = false;

	if (getcontext(&co) < 0) {
		/* cannot happen on Linux; running on the caller's stack beats not running */
		c->fn(c->arg);
		return;
	}
	co.uc_stack.ss_sp = bottom;
	co.uc_stack.ss_size = size;
	co.uc_link = &caller; /* where uc_entry goes when it returns */
	makecontext(&co, uc_entry, 0);
	uc_call = c;
	getcontext(&caller); /* returns a second time when uc_entry is done */
	if (!back) {
		back = true;
		setcontext(&co);
	}
}

void sql_stack_run(struct sql_stack *s, void (*fn)(void *), void *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	char *bottom = (char *)s->map + page; /* above the guard page */
	size_t size = s->map_size - (size_t)page;
	struct call c = {.fn = fn, .arg = arg};
	void *fake = NULL;

	if (__sanitizer_start_switch_fiber)
		__sanitizer_start_switch_fiber(&fake, bottom, size);
	if (HAVE_STACK_CALL && !s->use_ucontext) {
#if HAVE_STACK_CALL
		pgw_sql_stack_call(&c, enter_annotated, bottom + size);
#endif
	} else {
		run_ucontext(&c, bottom, size);
	}
	if (__sanitizer_finish_switch_fiber)
		__sanitizer_finish_switch_fiber(fake, NULL, NULL);
}

void sql_stack_trim(struct sql_stack *s)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t keep = (size_t)1 << 20; /* what ordinary statements use, kept warm */

	if (!s->map || s->map_size <= keep + (size_t)page)
		return;
	/* the kernel drops the pages; the mapping stays and refaults zeroed on demand */
	madvise((char *)s->map + page, s->map_size - (size_t)page - keep, MADV_DONTNEED);
}

size_t sql_stack_size_for(size_t max_parse_bytes)
{
	/* 64 B/byte measured worst case, x2 margin, + room for the walk and the ASan build */
	size_t want = max_parse_bytes * 128 + (64u << 20);

	return PGW_MAX(want, (size_t)256 << 20);
}

int sql_stack_init(struct sql_stack *s, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t total = (size + (size_t)page - 1) / (size_t)page * (size_t)page + (size_t)page;
	void *map = mmap(NULL, total, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);

	if (map == MAP_FAILED)
		return -1;
	/* a guard page, so that an overflow faults instead of writing over the heap */
	if (mprotect(map, (size_t)page, PROT_NONE) < 0) {
		munmap(map, total);
		return -1;
	}
	s->map = map;
	s->map_size = total;
	s->use_ucontext = !HAVE_STACK_CALL;
	return 0;
}

void sql_stack_free(struct sql_stack *s)
{
	if (s->map)
		munmap(s->map, s->map_size);
	s->map = NULL;
	s->map_size = 0;
}

void pgw_sql_tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
}
