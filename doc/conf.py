# doc/conf.py — Sphinx configuration: prose pages plus the C++ reference through Breathe.
# Built by the `docs` target (doc/CMakeLists.txt), which runs Doxygen first and passes the
# XML directory in TREADLE_DOXYGEN_XML.
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

ROOT = Path(__file__).resolve().parent.parent

project = "treadle"
author = "the treadle authors"
copyright = "the treadle authors"
# The docs target overrides both with the CMake project version (-D version=... -D release=...).
version = release = "0.1"

extensions = ["breathe"]

_xml = os.environ.get("TREADLE_DOXYGEN_XML")
if not _xml:
    raise RuntimeError(
        "TREADLE_DOXYGEN_XML is not set: build the docs with `make docs` "
        "(or `cmake --build <dir> --target docs`), which runs Doxygen first")
breathe_projects = {"treadle": _xml}
breathe_default_project = "treadle"
breathe_domain_by_extension = {"hpp": "cpp"}

primary_domain = "cpp"
# Code blocks in the headers' comments are call-order and state diagrams, not C++, and Breathe
# does not pass on a fence's language; pages name the language of their code blocks.
highlight_language = "none"

html_theme = "alabaster"
html_title = "treadle"
html_theme_options = {
    "description": "Transports and protocols over interchangeable event loops",
    "fixed_sidebar": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
html_show_sourcelink = False
html_copy_source = False


class ErrcTable(Directive):
    """``.. treadle-errc-table::`` — the rows of ``TREADLE_ERRC_TABLE`` as a table.

    The error codes are one X-macro table in ``core/include/treadle/core/error.hpp``; the enum
    and the category's messages are generated from it, and so is this table, so the
    documentation cannot drift from the code. Each row's doc line is the ``/* ... */``
    comment in front of it.
    """

    has_content = False
    _ROW = re.compile(
        r'/\*\s*(?P<doc>.*?)\s*\*/\s*\\?\s*X\(\s*(?P<name>\w+)\s*,\s*(?P<value>\d+)\s*,'
        r'\s*"(?P<message>[^"]*)"\s*\)', re.S)

    def run(self):
        header = ROOT / "core/include/treadle/core/error.hpp"
        text = header.read_text(encoding="utf-8")
        start = text.index("#define TREADLE_ERRC_TABLE")
        end = text.index("\n\n", start)
        rows = [m.groupdict() for m in self._ROW.finditer(text[start:end])]
        if not rows:
            raise self.error(f"no TREADLE_ERRC_TABLE rows found in {header}")
        self.state.document.settings.record_dependencies.add(str(header))

        table = nodes.table(classes=["treadle-errc"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (18, 6, 26, 50):
            group += nodes.colspec(colwidth=width)

        def row(cells, header_row=False):
            r = nodes.row()
            for cell in cells:
                entry = nodes.entry()
                if header_row:
                    entry += nodes.paragraph(text=cell)
                else:
                    entry += cell
                r += entry
            return r

        thead = nodes.thead()
        thead += row(["Code", "Value", "Message", "Meaning"], header_row=True)
        group += thead
        tbody = nodes.tbody()
        for r in rows:
            # The comments use `backticks` for code, as the headers do.
            meaning = nodes.paragraph()
            for i, part in enumerate(re.split(r"`([^`]*)`", " ".join(r["doc"].split()))):
                meaning += nodes.literal(text=part) if i % 2 else nodes.Text(part)
            tbody += row([
                nodes.paragraph("", "", nodes.literal(text=f"errc::{r['name']}")),
                nodes.paragraph(text=r["value"]),
                nodes.paragraph(text=r["message"]),
                meaning,
            ])
        group += tbody
        return [table]


def setup(app):
    app.add_directive("treadle-errc-table", ErrcTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
