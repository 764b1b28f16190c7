// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: a record file, as tangle replay takes it, from anyone.
 * The reader checks it, its events go through decode into a model, the
 * detector runs at its ticks, and the other record bodies are parsed as
 * replay parses them. Nothing in the file may crash, hang or leak.
 *
 *   make fuzz                  build .output-fuzz/fuzz_record
 *   make fuzz-run FUZZ_S=60    run it on the committed corpus for 60 s
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"
#include "detect.h"
#include "model.h"
#include "record.h"

static void on_group(const struct stuck_group *g, void *ctx)
{
	(void)g, (void)ctx;
}

static void parse_body(const struct rec *rec)
{
	struct rec_cursor c;
	char s[512];
	bool present;
	uint8_t fixed[64];

	rec_cursor__init(&c, rec);
	switch (rec->type) {
	case REC_PLACE:
		rec_cursor__get(&c, fixed, sizeof(struct rec_place));
		for (int i = 0; i < 3; i++)
			rec_cursor__get_str(&c, s, sizeof(s), &present);
		break;
	case REC_STACK: {
		struct rec_stack st;

		rec_cursor__get(&c, &st, sizeof(st));
		for (unsigned i = 0; !c.bad && i < (unsigned)st.nr_user + st.nr_kernel && i < 100;
		     i++) {
			rec_cursor__get(&c, fixed, sizeof(struct rec_frame));
			for (int k = 0; k < 3; k++)
				rec_cursor__get_str(&c, s, sizeof(s), &present);
		}
		break;
	}
	default:
		rec_cursor__get(&c, fixed, rec->len < sizeof(fixed) ? rec->len : sizeof(fixed));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct detect_opts o = { .min_wait_ns = 100000000ull };
	FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
	struct model *m;
	struct detector *d;
	struct rec_reader *r;
	struct rec rec;
	char why[512];

	if (!f)
		return 0;
	if (!size) {
		fclose(f);
		return 0;
	}
	r = rec_reader__open(f, "fuzz", why, sizeof(why));
	if (!r)
		return 0;
	m = model__new(NULL, NULL);
	d = detector__new(&o, on_group, NULL);
	while (m && d && rec_reader__next(r, &rec) > 0) {
		switch (rec.type) {
		case REC_EVENT:
			decode__event(m, rec.body, rec.len);
			break;
		case REC_TICK:
			detector__run(d, m, rec.ts_ns);
			break;
		default:
			parse_body(&rec);
		}
	}
	rec_reader__close(r);
	detector__free(d);
	model__free(m);
	return 0;
}
