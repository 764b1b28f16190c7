// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Where the lock-order uprobes go: synthetic code, then this machine's own libc. */
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "lockplace.h"
#include "test.h"

static uint64_t place(const uint8_t *code, size_t len, bool *emulated, char *insn)
{
	uint64_t off;

	lockplace__place(code, len, &off, emulated, insn);
	return off;
}

TEST(push_at_entry_stays)
{
	static const uint8_t code[] = { 0x41, 0x56, 0x53, 0x48, 0x89, 0xfb, 0xc3 }; /* push r14 */
	bool em;
	char insn[8];

	ASSERT_EQ(place(code, sizeof(code), &em, insn), 0, "entry");
	ASSERT_TRUE(em, "emulated");
	ASSERT_STREQ(insn, "push", "push");
}

TEST(moves_past_loads_to_a_jcc)
{
	/* glibc 2.36 pthread_mutex_lock: mov 0x10(%rdi),%eax; mov %eax,%edx;
	   and $0x17f,%edx; and $0x7c,%eax; jne; push %rbx; ...; ret */
	static const uint8_t code[] = {
		0x8b, 0x47, 0x10, 0x89, 0xc2, 0x81, 0xe2, 0x7f, 0x01, 0x00,
		0x00, 0x83, 0xe0, 0x7c, 0x75, 0x02, 0x53, 0x5b, 0xc3, 0xc3
	};
	bool em;
	char insn[8];

	ASSERT_EQ(place(code, sizeof(code), &em, insn), 0xe, "the jne");
	ASSERT_TRUE(em, "emulated");
	ASSERT_STREQ(insn, "jcc", "jcc");
}

TEST(never_past_a_write_to_rdi)
{
	/* mov (%rsi),%rdi; push %rbx: the probe would read a changed first argument */
	static const uint8_t code[] = { 0x48, 0x8b, 0x3e, 0x53, 0x5b, 0xc3 };
	bool em;
	char insn[8];

	ASSERT_EQ(place(code, sizeof(code), &em, insn), 0, "entry");
	ASSERT_FALSE(em, "single-stepped");
	ASSERT_STREQ(insn, "", "no kind");
}

TEST(never_past_a_write_to_rsp)
{
	/* sub $0x18,%rsp; push %rbx: the return address is no longer at rsp */
	static const uint8_t code[] = { 0x48, 0x83, 0xec, 0x18, 0x53, 0x5b, 0xc3 };
	bool em;
	char insn[8];

	ASSERT_EQ(place(code, sizeof(code), &em, insn), 0, "entry");
	ASSERT_FALSE(em, "single-stepped");
}

TEST(never_where_a_branch_lands_before_it)
{
	/* mov (%rdi),%eax; test $1,%al; jne +0; ...; jmp back to the test (a retry loop) */
	static const uint8_t code[] = {
		0x8b, 0x07, 0xa8, 0x01, 0x75, 0x00, 0x90, 0xeb, 0xf9, 0xc3
	};
	bool em;
	char insn[8];

	/* the jmp at 7 goes to 7 + 2 - 7 = 2: between the entry and the jne */
	ASSERT_EQ(place(code, sizeof(code), &em, insn), 0, "entry");
	ASSERT_FALSE(em, "single-stepped");
}

TEST(unknown_code_stays_at_entry)
{
	static const uint8_t code[] = { 0x62, 0xf1, 0x7d, 0x48, 0x6f, 0x07 }; /* EVEX */
	bool em;
	char insn[8];

	ASSERT_EQ(place(code, sizeof(code), &em, insn), 0, "entry");
	ASSERT_FALSE(em, "not known");
	ASSERT_EQ(place(code, 0, &em, insn), 0, "no code");
}

struct found {
	char *path;
	size_t len;
	bool ok;
};

static int find_libc(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct found *f = ctx;

	(void)size;
	if (info->dlpi_name && strstr(info->dlpi_name, "/libc.so")) {
		snprintf(f->path, f->len, "%s", info->dlpi_name);
		f->ok = true;
		return 1;
	}
	return 0;
}

/* The libc this test maps (by name: under ASan, dlsym finds its interceptors instead). */
static int libc_path(char *path, size_t len)
{
	struct found f = { path, len, false };

	dl_iterate_phdr(find_libc, &f);
	return f.ok ? 0 : -1;
}

TEST(this_machines_libc)
{
	struct lo_binary *b = calloc(1, sizeof(*b));
	char path[PATH_MAX];
	size_t emulated = 0;

	if (!ASSERT_TRUE(b, "alloc") || !ASSERT_OK(libc_path(path, sizeof(path)), "libc path"))
		goto out;
	if (!ASSERT_OK(lockplace__read_file(path, LO_PLACE_EMULATED, b), "read libc"))
		goto out;
	ASSERT_TRUE(b->fn[LO_FN_MUTEX_LOCK].found, "pthread_mutex_lock");
	ASSERT_TRUE(b->fn[LO_FN_MUTEX_UNLOCK].found, "pthread_mutex_unlock");
	ASSERT_TRUE(b->fn[LO_FN_MUTEX_TRYLOCK].found, "pthread_mutex_trylock");
	ASSERT_TRUE(b->fn[LO_FN_RW_WRLOCK].found, "pthread_rwlock_wrlock");
	ASSERT_TRUE(b->fn[LO_FN_RW_UNLOCK].found, "pthread_rwlock_unlock");
	for (int f = 0; f < LO_FN_NR; f++) {
		const struct lo_site *s = &b->fn[f];

		if (!s->found)
			continue;
		emulated += s->emulated;
		ASSERT_TRUE(s->probe_off < 64, "near the entry");
		ASSERT_EQ(s->file_off - s->probe_off > 0, 1, "file offset");
	}
	/* glibc's lock and unlock both reach an emulated instruction */
	ASSERT_TRUE(b->fn[LO_FN_MUTEX_LOCK].emulated, "lock emulated");
	ASSERT_TRUE(b->fn[LO_FN_MUTEX_UNLOCK].emulated, "unlock emulated");
	ASSERT_TRUE(emulated >= 2, "some emulated");
	/* entry placement: every probe at offset 0 */
	if (ASSERT_OK(lockplace__read_file(path, LO_PLACE_ENTRY, b), "read again"))
		for (int f = 0; f < LO_FN_NR; f++)
			ASSERT_EQ(b->fn[f].probe_off, 0, "at the entry");
out:
	free(b);
}

TEST(not_an_elf_file)
{
	struct lo_binary *b = calloc(1, sizeof(*b));

	ASSERT_EQ(lockplace__read_file("/proc/self/status", LO_PLACE_EMULATED, b), -ENOEXEC,
		  "ENOEXEC");
	ASSERT_EQ(lockplace__read_file("/nonexistent", LO_PLACE_EMULATED, b), -ENOENT, "ENOENT");
	free(b);
}

TEST(find_in_this_process)
{
	struct lo_binary *b = calloc(1, sizeof(*b));

	ASSERT_OK(lockplace__find("/proc", (uint32_t)getpid(), LO_PLACE_EMULATED, b), "found");
	ASSERT_TRUE(b->fn[LO_FN_MUTEX_LOCK].found, "mutex lock");
	ASSERT_TRUE(strstr(b->shown, "libc") != NULL, "from libc");
	ASSERT_EQ(lockplace__find("/proc", 0x7ffffff0, LO_PLACE_EMULATED, b), -ESRCH,
		  "no such pid");
	free(b);
}

TEST_MAIN()
