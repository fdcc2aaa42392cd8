"""authors.py: reading AUTHORS, the placeholder, the notebooks' group line, the LaTeX macro."""
import authors


def test_names_skip_comments_and_blank_lines(tmp_path):
    path = tmp_path / "AUTHORS"
    path.write_text("# who we are\n\n  Ada Lovelace \nAlan Turing\n")
    assert authors.read_authors(str(path)) == ["Ada Lovelace", "Alan Turing"]
    assert authors.read_authors(str(tmp_path / "missing")) == []


def test_the_committed_file_holds_the_placeholder_until_students_edit_it():
    assert authors.is_placeholder(authors.read_authors())
    assert authors.is_placeholder([]) and not authors.is_placeholder(["Ada"])


def test_author_line_joins_names():
    assert authors.author_line(["A"]) == "A"
    assert authors.author_line(["A", "B", "C"]) == "A, B and C"
    assert authors.author_line([]) == authors.PLACEHOLDER


def test_group_line_is_replaced_or_added_under_the_title():
    assert authors.stamp_group("# T\n**Group:** x\ntext", ["A", "B"]) == "# T\n**Group:** A and B\ntext"
    assert authors.stamp_group("# T\ntext", ["A"]) == "# T\n\n**Group:** A\ntext"


def test_tex_macro_escapes_special_characters():
    text = authors.tex_command(["Ann & Bob_1", "C"])
    assert r"\newcommand{\hwAuthors}{Ann \& Bob\_1 \and C}" in text
