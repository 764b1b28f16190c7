/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one place that picks the curses flavour: the wide-character ncursesw,
 * so that UTF-8 names are measured and drawn correctly. Only src/tui/ files
 * that draw include this.
 */
#ifndef TANGLE_TUI_CURSES_H
#define TANGLE_TUI_CURSES_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <ncursesw/curses.h>

#endif
