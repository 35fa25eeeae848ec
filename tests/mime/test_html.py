"""The HTML reader: the diary's renderings (html_to_text, html_to_quoted_text) and the gate's reading.

Every body is written here; names and addresses are invented. The hostile shapes at the end are
sized so that a reader quadratic in the size of the body would not finish within pytest's timeout;
no test measures time (benchmarks/hostile_html.py does).
"""

from __future__ import annotations

import pytest

from mailflow.mime.html import OVER_BUDGET, html_to_quoted_text, html_to_text, read_html
from mailflow.mime.reading import Budget, Limits, Reading, Text, Unread

WHERE = "HTML body"


def texts(reading: Reading) -> dict[str, str]:
    """Each Text of a reading by where it was found."""
    assert reading.complete, reading.unread
    return {text.where: text.text for text in reading.texts}


def surface(name: str) -> str:
    return f"{WHERE} ({name})"


# ------------------------------------------------------------------------------ html_to_text


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        pytest.param("<p>First</p><p>Second</p>", "First\n\nSecond", id="paragraphs"),
        pytest.param("<div>One</div><div>Two</div>", "One\n\nTwo", id="divs"),
        pytest.param("one<br>two<br/>three", "one\ntwo\nthree", id="br"),
        pytest.param("<h1>Title</h1>text<hr>after", "Title\ntext\n\nafter", id="heading-and-rule"),
        pytest.param("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo", id="list"),
        pytest.param("<table><tr><td>a</td></tr><tr><td>b</td></tr></table>", "a\n\nb", id="table-rows"),
        pytest.param("Caf&eacute; &amp; &#x41;&#66; &lt;ok&gt; &nbsp;x", "Café & AB <ok> \xa0x", id="entities"),
        pytest.param("&copy 2024 &unknown;", "© 2024 &unknown;", id="legacy-and-unknown-entities"),
        pytest.param("Ali<b>ce</b> <i>Lid</i>dell", "Alice Liddell", id="inline-tags-add-nothing"),
    ],
)
def test_html_to_text_breaks_blocks_and_decodes_entities(markup: str, expected: str) -> None:
    # Given a body with block and inline elements / When it is rendered / Then blocks are lines
    assert html_to_text(markup) == expected


def test_html_to_text_drops_scripts_styles_head_and_title() -> None:
    # Given a whole document with a head, a title, a style and a script
    markup = (
        "<html><head><title>Newsletter</title><style>p { color: red }</style></head>"
        "<body><p>Visible</p><script>var hidden = 1;</script></body></html>"
    )
    # When it is rendered
    text = html_to_text(markup)
    # Then only the body's text is left
    assert text == "Visible"


def test_html_to_text_a_head_that_is_never_closed_ends_where_the_body_starts() -> None:
    # Given a head without its end tag (browsers end it at the first body element)
    markup = '<html><head><meta charset="utf-8"><title>T</title>\n<body><p>Report text</p></body>'
    # When it is rendered / Then the body is not lost with the head
    assert html_to_text(markup) == "Report text"


def test_html_to_text_trims_trailing_spaces_and_blank_runs() -> None:
    # Given text with trailing spaces before breaks and many empty paragraphs
    markup = "first   <br>\xa0<p></p><p></p><p></p><div></div>second \t"
    # When it is rendered / Then lines lose trailing spaces and blank lines come one at a time
    assert html_to_text(markup) == "first\n\nsecond"


def test_html_to_text_keeps_source_line_breaks_of_text() -> None:
    # Given source lines inside a block and inside <pre>, CRLF line ends
    markup = "<div>line one\r\n   line two</div><pre>  code\n    indented</pre>"
    # When it is rendered / Then the text keeps them (this rendering does not collapse whitespace)
    assert html_to_text(markup) == "line one\n   line two\n\n  code\n    indented"


def test_html_to_text_whitespace_between_tags_is_one_space_or_line_break() -> None:
    # Given indentation between tags, as editors write it
    markup = "<div>x<br>\n        <br>\n        <a href='#'>Very</a> <b>y</b></div>"
    # When it is rendered / Then indentation between tags is not kept
    assert html_to_text(markup) == "x\n\nVery y"


# ------------------------------------------------------------------------ html_to_quoted_text


def test_quoted_text_blockquote_becomes_quote_lines() -> None:
    # Given an answer above a quoted message
    markup = "<p>I agree.</p><blockquote><p>Can you come?</p><p>Robin</p></blockquote>"
    # When it is rendered for reply extraction
    text = html_to_quoted_text(markup)
    # Then the quote's lines start with "> ", its blank lines are ">"
    assert text == "I agree.\n\n> Can you come?\n>\n> Robin"


def test_quoted_text_nested_quotes() -> None:
    # Given a quote inside a quote
    markup = "text<blockquote>q1<blockquote>q2</blockquote>q1b</blockquote>more"
    # When it is rendered / Then the inner quote's lines start with "> > "
    assert html_to_quoted_text(markup) == "text\n\n> q1\n>\n> > q2\n>\n> q1b\n\nmore"


def test_quoted_text_an_empty_quote_is_one_quote_line() -> None:
    assert html_to_quoted_text("<blockquote></blockquote>after") == ">\n\nafter"


@pytest.mark.parametrize(
    "container",
    [
        pytest.param('<div class="yahoo_quoted">', id="yahoo"),
        pytest.param('<div class="x gmail_quote_container">', id="gmail"),
        pytest.param('<div id="OLK_SRC_BODY_SECTION">', id="outlook-mac"),
    ],
)
def test_quoted_text_webmail_quote_containers(container: str) -> None:
    # Given a webmail's quote container below the answer
    markup = f"<div>Answer</div>{container}Earlier<br>message</div>"
    # When it is rendered / Then its content is quoted
    assert html_to_quoted_text(markup) == "Answer\n\n> Earlier\n> message"


def test_quoted_text_a_quote_container_that_is_not_a_block() -> None:
    markup = "<span class='yahoo_quoted'>y1<br>y2</span>z"
    assert html_to_quoted_text(markup) == "> y1\n> y2\nz"


@pytest.mark.parametrize("signature", ["gmail_signature", "moz-signature"])
def test_quoted_text_drops_webmail_signatures(signature: str) -> None:
    # Given an answer with a webmail signature block
    markup = f'<div>Thanks.</div><div class="{signature}">-- <br>Sam Sender<blockquote>x</blockquote></div>'
    # When it is rendered / Then the signature block is gone, with what it contains
    assert html_to_quoted_text(markup) == "Thanks."


def test_quoted_text_collapses_whitespace_outside_pre() -> None:
    # Given a header block written over source lines, and a <pre> and <textarea>
    markup = (
        "<div>Date: Tue, 5 Mar 2024<br>\n    To:   Sam<br>\n    Subject: Hi</div>"
        "<pre>keep\n  lines</pre><textarea>a\nb</textarea>"
    )
    # When it is rendered
    text = html_to_quoted_text(markup)
    # Then the header lines are consecutive; <pre> and <textarea> keep their line breaks
    assert text == "Date: Tue, 5 Mar 2024\nTo: Sam\nSubject: Hi\n\nkeep\nlines\na\nb"


def test_quoted_text_interleaved_answers() -> None:
    markup = "<blockquote>When?</blockquote><p>Saturday.</p><blockquote>Where?</blockquote><p>At the venue.</p>"
    assert html_to_quoted_text(markup) == "> When?\n\nSaturday.\n\n> Where?\n\nAt the venue."


# ---------------------------------------------------------------------------------- read_html


def test_read_html_strips_tags_without_adding_spaces_inside_words() -> None:
    # Given a name split by inline tags, and words in separate blocks and cells
    markup = "<p>Ali<b>ce</b> Lid<span>dell</span></p><div>one</div><div>two</div><td>a</td><td>b</td>"
    # When the gate reads it
    read = texts(read_html(markup, WHERE))
    # Then the name is whole, blocks and cells separate words, and nothing is hidden
    assert read == {WHERE: "\nAlice Liddell\n\none\n\ntwo\n\na\n\nb\n"}


@pytest.mark.parametrize(
    "hiding",
    [
        '<span style="display:none">',
        '<span style="DISPLAY : none !important">',
        '<span style="color:red; visibility:hidden">',
        '<span style="font-size:0">',
        '<span style="font-size: 0px;">',
        '<span style="opacity:0.0">',
        '<span style="mso-hide:all">',
        "<span hidden>",
        "<template>",
    ],
)
def test_read_html_hidden_text_is_left_out_of_the_visible_text(hiding: str) -> None:
    # Given a name with junk hidden inside it
    name = hiding.split()[0].strip("<>")
    markup = f"<p>Ali{hiding}xyz</{name}>ce</p>"
    # When the gate reads it
    read = texts(read_html(markup, WHERE))
    # Then the visible text has the name whole, and all the text is read as hidden text
    assert read[WHERE] == "\nAlice\n"
    assert read[surface("hidden text")] == "\nAlixyzce\n"


def test_read_html_a_hidden_block_separates_nothing() -> None:
    read = texts(read_html('Ali<div style="display:none">x</div>ce', WHERE))
    assert (read[WHERE], read[surface("hidden text")]) == ("Alice", "Ali\nx\nce")


def test_read_html_visible_styles_do_not_hide() -> None:
    # Given styles that look like hiding but are not
    markup = (
        '<span style="font-size:10px">a</span><span style="opacity:0.5">b</span><span style="display:block">c</span>'
    )
    # When the gate reads it / Then everything is visible, and there is no separate hidden text
    read = texts(read_html(markup, WHERE))
    assert read[WHERE] == "abc" and surface("hidden text") not in read


def test_read_html_style_element_attributes_and_css_content_strings() -> None:
    # Given CSS that writes a name with content: (escapes, adjacent strings), and a style attribute
    markup = (
        '<style>p::after { content: "Alice" " Lid\\64 ell"; color: red } /* a "comment" */</style>'
        '<p style="margin:0">Hello</p>'
    )
    # When the gate reads it
    read = texts(read_html(markup, WHERE))
    # Then the style surface has the CSS as written and the content strings decoded and joined
    assert read[surface("style")].split("\n") == [
        'p::after { content: "Alice" " Lid\\64 ell"; color: red } /* a "comment" */',
        "margin:0",
        "Alice Liddell",
    ]
    assert read[WHERE] == "\nHello\n"


def test_read_html_script_contents_and_decoded_string_literals() -> None:
    # Given a script that writes a name with escapes and concatenations, and an event handler
    markup = (
        "<script>document.write(\"Ali\\x63e \" + 'Lid' + \"dell\"); var who = '\\u0041lice \\u{4C}iddell';"
        "// it's a comment\nvar c = String.fromCharCode(65, 108, 105, 99, 101);</script>"
        "<button onclick=\"alert('Alice')\">Go</button>"
    )
    # When the gate reads it
    read = texts(read_html(markup, WHERE))
    # Then the script surface holds the scripts as written, then the decoded literals
    lines = read[surface("script")].split("\n")
    assert lines[-4:] == ["alert('Alice')", "Alice Liddell", "Alice Liddell", "Alice"]
    assert lines[0].startswith('document.write("Ali\\x63e "')
    assert read[WHERE] == "Go"


@pytest.mark.parametrize(
    ("markup", "name", "value"),
    [
        ('<a href="https://example.org/u/alice">x</a>', "href", "https://example.org/u/alice"),
        ('<a href="mailto:alice.liddell%40example.org">x</a>', "href", "mailto:alice.liddell@example.org"),
        ('<abbr title="Alice Liddell">AL</abbr>', "title", "Alice Liddell"),
        ('<img alt="Alice" src="cid:photo1">', "alt", "Alice"),
        ('<img src="https://example.org/Alice%20Liddell.png">', "src", "https://example.org/Alice Liddell.png"),
        ('<input type="hidden" value="Alice">', "value", "Alice"),
        ('<input placeholder="Alice">', "placeholder", "Alice"),
        ('<meta name="author" content="Alice Liddell">', "content", "Alice Liddell"),
        ('<div data-reporter="Alice">x</div>', "data-reporter", "Alice"),
        ('<a href="data:text/plain;base64,QWxpY2UgTGlkZGVsbA==">x</a>', "href", "Alice Liddell"),
        ('<a title="Alice &amp; Bob &copy=1">x</a>', "title", "Alice & Bob &copy=1"),
    ],
)
def test_read_html_attribute_values(markup: str, name: str, value: str) -> None:
    # Given an attribute a recipient could see or follow / When the gate reads it
    read = texts(read_html(markup, WHERE))
    # Then its value is a surface of its own, decoded
    assert read[surface(f"{name} attribute")] == value


def test_read_html_percent_decoded_attributes_keep_the_raw_value() -> None:
    reading = read_html('<a href="mailto:alice%40example.org">x</a><a href="https://example.org">y</a>', WHERE)
    [href] = [text for text in reading.texts if text.where == surface("href attribute")]
    assert href == Text(
        surface("href attribute"),
        "mailto:alice@example.org\nhttps://example.org",
        raw="mailto:alice%40example.org\nhttps://example.org",
    )


def test_read_html_skips_layout_attributes_and_image_data() -> None:
    # Given attributes that hold no text for a person, and an inline image
    markup = (
        '<table width="100%" class="Alice" id="Alice" bgcolor="#fff" align="left"><tr><td>x</td></tr></table>'
        '<img src="data:image/png;base64,QWxpY2U=">'
    )
    # When the gate reads it / Then none of them is a surface
    assert set(texts(read_html(markup, WHERE))) == {WHERE}


def test_read_html_comments_and_conditional_comments() -> None:
    # Given an HTML comment and an Outlook conditional comment with markup inside
    markup = "<p>Hi</p><!-- ask Alice first --><!--[if mso]><p>Ali<b>ce</b> Liddell</p><![endif]--><?php x ?>"
    # When the gate reads it
    read = texts(read_html(markup, WHERE))
    # Then the comments are read, and so is the text of the markup inside them
    comment = read[surface("comment")]
    assert " ask Alice first " in comment and "Alice Liddell" in comment and "php x" in comment
    assert read[WHERE] == "\nHi\n"


@pytest.mark.parametrize(
    ("markup", "tail"),
    [
        pytest.param("<p>Hi</p><!-- ask Alice Liddell", "<!-- ask Alice Liddell", id="comment"),
        pytest.param('<p>Hi</p><a title="Alice Liddell', '<a title="Alice Liddell', id="attribute-value"),
        pytest.param("<p>Hi</p><a title=x Alice Liddell", "<a title=x Alice Liddell", id="tag"),
        pytest.param("<p>Hi</p><!DOCTYPE Alice Liddell", "<!DOCTYPE Alice Liddell", id="declaration"),
    ],
)
def test_read_html_markup_not_closed_at_the_end_is_text(markup: str, tail: str) -> None:
    # Given markup that ends inside a comment, tag or declaration / When it is read
    # Then what follows its "<" is text (in every reading), not lost
    assert texts(read_html(markup, WHERE))[WHERE].endswith(tail)
    assert html_to_text(markup).endswith(tail)
    assert html_to_quoted_text(markup).endswith(tail)


def test_read_html_a_script_never_closed_is_read_to_the_end() -> None:
    read = texts(read_html('<p>x</p><script>var who = "Ali\\x63e";</p>', WHERE))
    assert read[surface("script")] == 'var who = "Ali\\x63e";</p>\nAlice'


def test_read_html_title_textarea_and_noscript_are_visible() -> None:
    markup = "<title>About Alice</title><textarea>&lt;Bob&gt;</textarea><noscript>Carol</noscript>"
    assert texts(read_html(markup, WHERE))[WHERE] == "\nAbout Alice\n<Bob>Carol"


def test_read_html_over_the_text_budget_is_cut_and_reported() -> None:
    # Given a budget with room for 10 characters of text
    budget = Budget(Limits(max_text=10))
    # When a body with a longer visible text and a comment is read
    reading = read_html("<p>Alice Liddell</p><!-- Bob -->", WHERE, budget)
    # Then the visible text is cut at the budget, and both it and the comment are reported unread
    assert reading.texts == (Text(WHERE, "\nAlice Lid"),)
    assert reading.unread == (Unread(WHERE, OVER_BUDGET), Unread(surface("comment"), OVER_BUDGET))
    assert budget.text_left == 0


def test_read_html_counts_text_on_the_shared_budget() -> None:
    budget = Budget()
    read_html("<p>Alice</p>", WHERE, budget)
    assert budget.text == len("\nAlice\n")


def test_read_html_nesting_deeper_than_the_limit_is_read_flat() -> None:
    # Given a limit of 4 open elements and a name nested 10 deep inside a hidden element
    budget = Budget(Limits(max_html_depth=4))
    markup = '<div style="display:none">' + "<div>" * 10 + "Alice" + "</div>" * 10 + "x</div>visible"
    # When it is read
    read = texts(read_html(markup, WHERE, budget))
    # Then the deep text is read, and elements close where they should
    assert read[WHERE].strip() == "visible"
    assert "Alice" in read[surface("hidden text")]


# ------------------------------------------------------------------------------ hostile shapes


def test_tables_nested_30000_deep() -> None:
    # Given the report: tables nested 30,000 deep (450 KB)
    markup = "<table><tr><td>" * 30_000 + "Alice Liddell"
    # When each reading reads it / Then the text is there
    assert html_to_text(markup) == "Alice Liddell"
    assert html_to_quoted_text(markup) == "Alice Liddell"
    assert texts(read_html(markup, WHERE))[WHERE].strip() == "Alice Liddell"


def test_100000_unclosed_b() -> None:
    markup = "<b>" * 100_000 + "Ali<b>ce</b> Liddell"
    assert html_to_text(markup) == "Alice Liddell"
    assert html_to_quoted_text(markup) == "Alice Liddell"
    assert texts(read_html(markup, WHERE)) == {WHERE: "Alice Liddell"}


def test_100000_unclosed_comments() -> None:
    # Given a body followed by 100,000 "<!--" that are never closed
    markup = "<p>Alice Liddell</p>" + "<!--" * 100_000
    # When it is read / Then the body is read, and the rest is text
    expected = "Alice Liddell\n" + "<!--" * 100_000
    assert html_to_text(markup) == expected
    assert html_to_quoted_text(markup) == expected
    assert texts(read_html(markup, WHERE))[WHERE] == "\n" + expected


def test_100000_closed_comments() -> None:
    markup = "<!-- Alice -->x" * 100_000
    reading = texts(read_html(markup, WHERE))
    assert reading[surface("comment")] == "\n".join([" Alice "] * 100_000)
    assert html_to_text(markup) == "x" * 100_000


def test_100000_unclosed_attribute_values() -> None:
    # Given 100,000 '<a href="' (each value runs into the next tag: one tag that never ends)
    markup = "<p>Alice Liddell</p>" + '<a href="' * 100_000
    # When it is read / Then the text before it is read, and the rest is text
    assert html_to_text(markup) == "Alice Liddell\n" + '<a href="' * 100_000
    assert texts(read_html(markup, WHERE))[WHERE].startswith("\nAlice Liddell\n<a href=")


def test_100000_attribute_values_closed_at_the_end() -> None:
    markup = '<a href="' * 100_000 + '">Alice'
    read = texts(read_html(markup, WHERE))
    assert read[WHERE] == "Alice"
    assert read[surface("href attribute")].count("<a href=") == 50_000


def test_a_huge_attribute() -> None:
    markup = '<a title="' + "Alice Liddell " * 500_000 + '">x</a>'
    read = texts(read_html(markup, WHERE))
    assert read[surface("title attribute")].count("Alice Liddell") == 500_000
    assert html_to_text(markup) == "x"


def test_a_script_never_closed_of_a_megabyte() -> None:
    markup = "<p>x</p><script>" + "var who = 'Ali\\x63e';\n" * 50_000
    read = texts(read_html(markup, WHERE))
    assert read[surface("script")].count("Alice") == 50_000
    assert html_to_text(markup) == "x"


def test_30000_nested_quotes_have_a_bounded_prefix() -> None:
    # Given quotes nested 30,000 deep, a line in each
    markup = "<blockquote>line<br>" * 30_000
    # When rendered for reply extraction
    lines = html_to_quoted_text(markup).split("\n")
    # Then every line is quoted, and no line has more than 16 levels of "> " (output stays linear)
    assert all(line.startswith(">") for line in lines if line.strip())
    assert max(len(line) for line in lines) <= len("> " * 16 + "line")
    assert sum(1 for line in lines if line.endswith("line")) == 30_000


def test_100000_nested_divs_inside_a_hidden_one_close_where_they_should() -> None:
    markup = '<div style="display:none">' + "<div>" * 100_000 + "xyz" + "</div>" * 100_000 + "</div>visible"
    read = texts(read_html(markup, WHERE))
    assert read[WHERE].strip() == "visible"
    assert "xyz" in read[surface("hidden text")]


def test_100000_stray_end_tags_under_deep_nesting() -> None:
    markup = "<div>" * 300 + "</span>" * 100_000 + "Alice"
    assert html_to_text(markup) == "Alice"
    assert texts(read_html(markup, WHERE))[WHERE].strip() == "Alice"


def test_a_million_lone_less_than_signs_and_ampersands() -> None:
    markup = "< &" * 300_000
    assert html_to_text(markup) == markup.rstrip()
    assert texts(read_html(markup, WHERE))[WHERE] == markup
