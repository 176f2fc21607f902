"""The run report renders one structure to Markdown and to self-contained HTML."""

import base64

import matplotlib.pyplot as plt

from hub_cards.report import Figure, Report, Section, Table


def test_report_markdown_and_html(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = tmp_path / "figs" / "line.png"
    png.parent.mkdir()
    fig.savefig(png)
    plt.close(fig)
    report = Report(
        "Run <1>",
        "What happened.",
        [
            Section(
                "Scores",
                ["Macro-F1 & friends."],
                [Table(["class", "F1"], [["ice", "91.0"]], "per class")],
                [Figure(png, "a line")],
            )
        ],
    )
    md, page = report.write(tmp_path / "out")
    text = md.read_text()
    assert "| ice | 91.0 |" in text and "](../figs/line.png)" in text
    html = page.read_text()
    assert "Run &lt;1&gt;" in html and "Macro-F1 &amp; friends." in html
    assert base64.b64encode(png.read_bytes()).decode("ascii") in html  # embedded, no external file needed
