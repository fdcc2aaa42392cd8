"""The group's names, read from the AUTHORS file that the students fill in.

AUTHORS holds one name per line; blank lines and lines starting with '#' are
ignored. The writeup's author line (`make writeup`) and the notebooks' title
cells (stamped when run_notebooks.py exports them) come from it, and
`make submission` refuses to run while it still holds the placeholder (`make draft` does not).

    python authors.py --tex writeup/generated/authors.tex
"""
import argparse
import os

ROOT = os.path.dirname(os.path.abspath(__file__))
AUTHORS_FILE = os.path.join(ROOT, "AUTHORS")
PLACEHOLDER = "Your names here (edit AUTHORS)"
GROUP_PREFIX = "**Group:**"


def read_authors(path=None):
    """The names listed in path (default AUTHORS), in order; [] when it is missing or empty."""
    path = path or AUTHORS_FILE
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if line and not line.startswith("#")]


def is_placeholder(names):
    """Whether names still needs filling in (nothing, or only the placeholder)."""
    return not names or names == [PLACEHOLDER]


def author_line(names):
    """'A', 'A and B', 'A, B and C'; the placeholder when names is empty."""
    if not names:
        return PLACEHOLDER
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def stamp_group(markdown, names):
    """markdown with its '**Group:**' line set to the names (added after the title if absent)."""
    line = f"{GROUP_PREFIX} {author_line(names)}"
    lines = markdown.splitlines()
    for i, old in enumerate(lines):
        if old.startswith(GROUP_PREFIX):
            lines[i] = line
            return "\n".join(lines)
    title_end = 1 if lines and lines[0].startswith("#") else 0
    return "\n".join(lines[:title_end] + ["", line] + lines[title_end:])


def tex_command(names):
    """A LaTeX definition of \\hwAuthors, names joined by \\and (special characters escaped)."""
    escape = {c: "\\" + c for c in "&%$#_{}"}
    escaped = ["".join(escape.get(c, c) for c in name) for name in (names or [PLACEHOLDER])]
    joined = " \\and ".join(escaped)
    return ("% Generated from AUTHORS by authors.py -- do not edit.\n"
            f"\\newcommand{{\\hwAuthors}}{{{joined}}}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tex", required=True, help="where to write the LaTeX definition")
    args = parser.parse_args(argv)
    text = tex_command(read_authors())
    if not os.path.exists(args.tex) or open(args.tex, encoding="utf-8").read() != text:
        with open(args.tex, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
