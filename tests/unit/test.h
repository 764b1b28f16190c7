/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A header-only unit-test harness in the style of the kernel BPF selftests.
 *
 *	TEST(parse_empty)
 *	{
 *		struct thing *t = thing__new();
 *
 *		if (!ASSERT_TRUE(t, "thing__new"))
 *			return;
 *		ASSERT_EQ(thing__count(t), 0, "count");
 *		thing__free(t);
 *	}
 *
 *	TEST_MAIN()
 *
 * Every ASSERT_* is an expression that is true when the check passed; a failed
 * check is reported with file:line and fails the current test, which goes on
 * running (return or goto cleanup to stop it). The binary runs all tests, or
 * one with --run NAME, and lists them with --list. Include this header in one
 * translation unit per test binary.
 */
#ifndef TANGLE_TEST_H
#define TANGLE_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_MAX 256
/* Failure messages printed per test; later ones are only counted. */
#define TEST_MAX_MESSAGES 20

struct test__case {
	const char *name;
	void (*fn)(void);
};

static struct test__case test__cases[TEST_MAX];
static int test__ncases;
static bool test__overflow;
static const char *test__current;
static int test__failures; /* failed checks in the current test */

static inline void test__register(const char *name, void (*fn)(void))
{
	if (test__ncases == TEST_MAX) {
		test__overflow = true;
		return;
	}
	test__cases[test__ncases].name = name;
	test__cases[test__ncases].fn = fn;
	test__ncases++;
}

__attribute__((format(printf, 3, 4))) static inline void test__fail(const char *file, int line,
								    const char *fmt, ...)
{
	va_list ap;

	if (++test__failures > TEST_MAX_MESSAGES)
		return;
	printf("  %s:%d: %s: ", file, line, test__current ? test__current : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Defines test function test_NAME and registers it before main() runs. */
#define TEST(name)                                                           \
	static void test_##name(void);                                       \
	__attribute__((constructor)) static void test__register_##name(void) \
	{                                                                    \
		test__register(#name, test_##name);                          \
	}                                                                    \
	static void test_##name(void)

#define ASSERT_TRUE(cond, name)                                                                 \
	({                                                                                      \
		bool ___ok = (cond);                                                            \
		if (!___ok)                                                                     \
			test__fail(__FILE__, __LINE__, "%s: expected true: %s", (name), #cond); \
		___ok;                                                                          \
	})

#define ASSERT_FALSE(cond, name)                                                                 \
	({                                                                                       \
		bool ___ok = !(cond);                                                            \
		if (!___ok)                                                                      \
			test__fail(__FILE__, __LINE__, "%s: expected false: %s", (name), #cond); \
		___ok;                                                                           \
	})

#define ASSERT_EQ(a, b, name)                                                                     \
	({                                                                                        \
		long long ___a = (long long)(a), ___b = (long long)(b);                           \
		bool ___ok = ___a == ___b;                                                        \
		if (!___ok)                                                                       \
			test__fail(__FILE__, __LINE__, "%s: expected %s == %s, got %lld != %lld", \
				   (name), #a, #b, ___a, ___b);                                   \
		___ok;                                                                            \
	})

#define ASSERT_STREQ(a, b, name)                                                                  \
	({                                                                                        \
		const char *___a = (a), *___b = (b);                                              \
		bool ___ok = ___a && ___b ? strcmp(___a, ___b) == 0 : ___a == ___b;               \
		if (!___ok)                                                                       \
			test__fail(__FILE__, __LINE__,                                            \
				   "%s: expected %s == %s, got \"%s\" != \"%s\"", (name), #a, #b, \
				   ___a ? ___a : "(null)", ___b ? ___b : "(null)");               \
		___ok;                                                                            \
	})

#define ASSERT_OK(err, name)                                                                 \
	({                                                                                   \
		long long ___err = (long long)(err);                                         \
		bool ___ok = ___err == 0;                                                    \
		if (!___ok)                                                                  \
			test__fail(__FILE__, __LINE__, "%s: unexpected error: %lld", (name), \
				   ___err);                                                  \
		___ok;                                                                       \
	})

/* Runs one test and prints "ok NAME" or "FAIL NAME"; true if it passed. */
static inline bool test__run(const struct test__case *tc)
{
	test__current = tc->name;
	test__failures = 0;
	tc->fn();
	if (test__failures > TEST_MAX_MESSAGES)
		printf("  ... %d more failed checks\n", test__failures - TEST_MAX_MESSAGES);
	printf("%s %s\n", test__failures ? "FAIL" : "ok", tc->name);
	fflush(stdout);
	test__current = NULL;
	return !test__failures;
}

static inline int test__main(int argc, char **argv)
{
	const char *only = NULL;
	int i, passed = 0, failed = 0;

	if (test__overflow) {
		fprintf(stderr, "%s: more than %d tests; raise TEST_MAX\n", argv[0], TEST_MAX);
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < test__ncases; i++)
			printf("%s\n", test__cases[i].name);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--run") == 0) {
		only = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [--list | --run NAME]\n", argv[0]);
		return 2;
	}
	for (i = 0; i < test__ncases; i++) {
		if (only && strcmp(only, test__cases[i].name) != 0)
			continue;
		if (test__run(&test__cases[i]))
			passed++;
		else
			failed++;
	}
	if (only && passed + failed == 0)
		fprintf(stderr, "%s: no test named '%s'\n", argv[0], only);
	printf("%d passed, %d failed\n", passed, failed);
	return failed || passed + failed == 0 ? 1 : 0;
}

#define TEST_MAIN()                            \
	int main(int argc, char **argv)        \
	{                                      \
		return test__main(argc, argv); \
	}

#endif /* TANGLE_TEST_H */
