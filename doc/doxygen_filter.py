#!/usr/bin/python3
"""doc/doxygen_filter.py — Doxygen INPUT_FILTER for the public headers.

Doxygen runs it on every public header (FILTER_PATTERNS in Doxyfile.in) and reads its
standard output instead of the file. It works around three Doxygen limitations. Two concern
the X-macro table of error codes in core/include/treadle/core/error.hpp, so that the
reference lists every `errc` code with its one-line description, straight from
`TREADLE_ERRC_TABLE`:

- The table's rows carry plain `/* ... */` comments (a `/** */` in a macro body would mean
  nothing to the compiler's readers). Turned into `/** ... */` here, the macro expansion puts
  one doc comment in front of each enumerator, which Doxygen attaches to it.
- A `#define` inside an enum body (the helper macro that expands the table) is listed by
  Doxygen's scanner as an extra enumerator. The line is moved in front of the enum (and its
  doc comment) instead.

The third: a member using-declaration that re-exposes a base's overloads (`using
WriteTransport::write;` next to an override of one `write`) makes Doxygen copy the base's
members into the derived class, so the override and the base's pure virtual appear twice
with the same signature, which Sphinx reports as a duplicate declaration. Such lines are
blanked; the base class documents those overloads. Inheriting constructors (`using
Base::Base;`) are kept.

The file keeps its number of lines (lines are only moved or edited in place), so warnings
still point at, or right next to, the right line of the real file.
"""
import re
import sys

# An indented `using Base::member;` (a member using-declaration, not an alias or a directive).
USING_MEMBER = re.compile(r"^\s+using\s+(?P<base>[\w:]+)::(?P<name>\w+)\s*;\s*$")


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
    for i, line in enumerate(out):
        m = USING_MEMBER.match(line)
        if m and m.group("name") != m.group("base").rsplit("::", 1)[-1]:
            out[i] = "\n"
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write("".join(filter_lines(f.readlines())))


if __name__ == "__main__":
    main()
