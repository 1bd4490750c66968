#!/usr/bin/python3
"""doc/doxygen_filter.py — Doxygen INPUT_FILTER for the X-macro table of error codes.

Doxygen runs it on core/include/treadle/core/error.hpp (FILTER_PATTERNS in Doxyfile.in) and
reads its standard output instead of the file. It works around two Doxygen limitations, so
that the reference lists every `errc` code with its one-line description, straight from
`TREADLE_ERRC_TABLE`:

- The table's rows carry plain `/* ... */` comments (a `/** */` in a macro body would mean
  nothing to the compiler's readers). Turned into `/** ... */` here, the macro expansion puts
  one doc comment in front of each enumerator, which Doxygen attaches to it.
- A `#define` inside an enum body (the helper macro that expands the table) is listed by
  Doxygen's scanner as an extra enumerator. The line is moved in front of the enum (and its
  doc comment) instead.

The file keeps its number of lines (lines are only moved or edited in place), so warnings
still point at, or right next to, the right line of the real file.
"""
import re
import sys


def filter_lines(lines):
    out = list(lines)
    in_table = False
    for i, line in enumerate(out):
        if line.startswith("#define TREADLE_ERRC_TABLE"):
            in_table = True
        elif in_table:
            out[i] = re.sub(r"^(\s*)/\*(?!\*)", r"\1/**", line)
            if not line.rstrip().endswith("\\"):
                in_table = False
    for i in range(1, len(out)):
        if out[i].startswith("#define") and re.match(r"\s*enum\b.*\{\s*$", out[i - 1]):
            # In front of the enum's doc comment too, which must stay attached to the enum.
            start = i - 1
            while start > 0 and out[start - 1].lstrip().startswith(("///", "//!")):
                start -= 1
            out[start:i + 1] = [out[i]] + out[start:i]
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write("".join(filter_lines(f.readlines())))


if __name__ == "__main__":
    main()
