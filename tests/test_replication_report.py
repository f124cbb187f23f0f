"""The replication report (replication/replication_report.py): built from the frames the report step
holds in a real run (`python -m replication all` in process, its arguments to report.build captured),
checked against the comparison, the scorecard and the options, and rendered in headless Chromium."""

from __future__ import annotations

import base64
import inspect
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lxml import html as lxml_html
from scipy import stats

from replication import compare
from replication import report as report_module
from replication.multiverse import shares
from replication.replication_report import MARKS, build

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCREENSHOT = Path("/tmp/replication_screenshot.png")
MISSING = re.compile(r"\bnan\b|\bNaN\b|\bNone\b|\bNaT\b|<NA>")


def run(out: Path, *settings: str) -> dict:
    """`python -m replication all` into `out`; the arguments report.build received (and the robustness
    tables it computed), then the replication report built from them and written to out/reports/."""
    from replication.__main__ import main

    captured: dict = {}
    real_build, real_robust = report_module.build, report_module.robustness_tables

    def build_spy(*args, **kwargs):
        captured.update(inspect.signature(real_build).bind(*args, **kwargs).arguments)
        return real_build(*args, **kwargs)

    def robust_spy(*args, **kwargs):
        captured["robust"] = real_robust(*args, **kwargs)
        return captured["robust"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_module, "build", build_spy)
        patch.setattr(report_module, "robustness_tables", robust_spy)
        assert main(["all", "--out", str(out), *[x for s in settings for x in ("--set", s)]]) == 0
    compared = compare.comparison(captured["published"], captured["tables"])
    card = compare.scorecard(compared)
    checks = compare.audit(captured["published"], captured["claims"])
    md, page = build(compared, card, compare.verdict(card), checks, captured["tables"], captured["data"],
                     captured["options"], anomalies=captured["anomalies"], robust=captured["robust"])
    (out / "reports" / "replication.md").write_text(md, encoding="utf-8")
    (out / "reports" / "replication.html").write_text(page, encoding="utf-8")
    return {**captured, "compared": compared, "card": card, "checks": checks, "md": md, "html": page, "out": out}


@pytest.fixture(scope="module")
def default(tmp_path_factory, committed_panel):
    return run(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def province(tmp_path_factory, committed_panel):
    return run(tmp_path_factory.mktemp("province"), "cov_type=cluster_province")


def sections(md: str) -> dict[str, list[list[str]]]:
    """The Markdown table rows under each '### Table N.' heading, as lists of cells, by 'T<N>'."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for line in md.splitlines():
        heading = re.match(r"### Table (\d+)\. ", line)
        if heading:
            current = f"T{heading.group(1)}"
            out[current] = []
        elif line.startswith("## "):
            current = None
        elif current and line.startswith("| ") and not line.startswith("|---"):
            out[current].append([c.strip() for c in line.strip("|").split("|")])
    return out


def marked(rows: list[list[str]], token: str) -> set[tuple[str, str]]:
    head, *body = rows
    column, row, ours = head.index("column"), head.index("row"), head.index("replication")
    return {(r[column], r[row]) for r in body if token in r[ours]}


def test_verdict_and_the_class_of_every_table(default):
    card = default["card"]
    line = compare.verdict(card)
    assert line.count(":") >= 1
    for text in (default["md"], default["html"]):
        assert line in text
    tables = card[card["table"] != "All"]
    md = default["md"]
    for table, name in zip(tables["table"], tables["class"]):
        section = md.split(f"### Table {table[1:]}. ", 1)[1]
        assert section.split("\n\n", 2)[1].startswith(f"Class: {name}."), table
        assert f"| {table} | {name} |" in md, table  # the class table
    assert set(sections(md)) == set(tables["table"])


def test_every_difference_is_marked_on_exactly_its_cells(default):
    compared = default["compared"]
    estimates = compared[compared["stat"] == "estimate"]
    expected = {
        "sign": estimates[estimates["same_sign"] == 0],
        "ci": estimates[estimates["paper_in_ci_95"] == 0],
        "significance": estimates[(estimates["same_sign"] == 1) & (estimates["same_significance_5"] == 0)],
    }
    assert len(expected["sign"]) > 0, "the default run has sign disagreements (Table 6 East Ur)"
    tables = sections(default["md"])
    for key, rows in expected.items():
        token = MARKS[key][0]
        for table, part in compared.groupby("table"):
            want = {(r.column, r.row) for r in rows[rows["table"] == table].itertuples()}
            assert marked(tables[table], token) == want, (key, table)
    # in the HTML the same cells carry the class, and only they
    tree = lxml_html.fromstring(default["html"])
    for key, rows in expected.items():
        css = MARKS[key][1]
        cells = tree.xpath(f"//td[contains(concat(' ', @class, ' '), ' {css} ')]")
        assert len(cells) == len(rows), key
        found = set()
        for td in cells:
            heading = td.xpath("preceding::h3[1]")[0].text_content()
            row = [c.text_content() for c in td.getparent().findall("td")]
            found.add((f"T{heading.split('.')[0].split()[-1]}", row[0], row[1]))
            assert MARKS[key][0] in td.text_content()
        assert found == {(r.table, r.column, r.row) for r in rows.itertuples()}, key
    # a number without a standard error is marked when it is off by more than the tolerance
    off = compared[(compared["stat"] != "estimate") & (compared["stat"] != "t")]
    assert marked(tables["T4"], MARKS["missing"][0]) == {
        (r.column, r.row) for r in off[(off["table"] == "T4") & off["replication"].isna()].itertuples()}


def test_the_page_names_the_run_s_clustering(default, province):
    assert province["options"].cov_type == "cluster_province"
    for text in (province["md"], province["html"]):
        assert "clustered by province" in text
        assert "clustered by city" not in text
    assert "clustered by city" in default["md"]
    # the G of the wild rows and the sample are the run's
    data = province["data"]
    assert f"{data['city_code'].nunique()} cities x {data['year'].nunique()} years" in province["md"]
    assert f"= {len(data)} city-years" in province["md"]


def test_no_nan_or_none_in_any_text(default, province):
    for run_ in (default, province):
        for text in (run_["md"], run_["html"]):
            assert not MISSING.search(text), MISSING.search(text)


def test_the_audit_s_findings_and_the_multiverse(default):
    bad = default["checks"][default["checks"]["result"] == "inconsistent"]
    assert len(bad)
    for r in bad.itertuples():
        assert f"{r.table} {r.cell}: {r.computation}" in default["md"]
    assert f"{len(default['checks'])} checks, {len(default['checks']) - len(bad)} consistent, {len(bad)} " \
           "inconsistent" in default["md"]
    assert "the multiverse was not run for this output directory (make multiverse)" in default["md"].lower()
    rng = np.random.default_rng(0)
    specs = pd.DataFrame({"spec_id": np.arange(40) // 2, "estimand": ["T5_Dig", "T6_East"] * 20,
                          "dist_indicators": ["four", "six"] * 20, "estimate": rng.normal(size=40),
                          "t_stat": rng.normal(scale=3, size=40)})
    specs["p_value"] = 2 * stats.norm.sf(specs["t_stat"].abs())
    summary = shares(specs)
    d = default
    md, page = build(d["compared"], d["card"], compare.verdict(d["card"]), d["checks"], d["tables"], d["data"],
                     d["options"], d["anomalies"], d["robust"], multiverse=summary)
    assert "make multiverse" not in md
    overall = summary[summary["group"] == "all"]
    for r in overall.itertuples():
        assert (f"{r.estimand}: {r.share_negative_5:.0%} significantly negative and {r.share_positive_5:.0%} "
                f"significantly positive at 5% of {r.specifications} specifications") in md
    assert not MISSING.search(md + page)


def test_without_anomalies_robustness_or_multiverse_the_page_says_so(default):
    d = default
    md, page = build(d["compared"], d["card"], compare.verdict(d["card"]), d["checks"], d["tables"], d["data"],
                     d["options"])
    assert "The anomaly screen's list (anomalies.csv) was not given to this report." in md
    assert "Leave one city out" not in md
    assert "make multiverse" in md
    assert not MISSING.search(md + page)


def test_other_reports_link_both_case_studies(default):
    """The Guangxi and the ethnic-regions reports sit beside this one in reports/ (issue 22)."""
    md, page = default["md"], default["html"]
    other = md[md.index("## Other reports"):]
    for name in ("guangxi", "ethnic"):
        assert f"- [{name}.md]({name}.md): the " in other, name
        assert f'<a href="{name}.html">{name}.html</a>' in page, name
    assert other.index("guangxi.md") < other.index("ethnic.md")


def test_wild_bootstrap_rows_come_from_the_tidy_tables(default):
    stats = default["tables"]["table5_stats"].set_index(["column", "stat"])["value"]
    p = stats[("(4)", "wild_Dig_city_p")]
    G = stats[("(4)", "wild_Dig_province_G")]
    assert f"| T5 | (4) | Dig | city | {p:.3f} |" in default["md"]
    assert re.search(rf"\| T5 \| \(4\) \| Dig \| province \|[^\n]*\| {G:.0f} \|", default["md"])


# ---------------------------------------------------------------------------- headless Chromium


def chromium_render(page: Path, screenshot: Path | None = None, width: int = 1280, height: int = 4000,
                    timeout: float = 60) -> dict:
    """Open `page` in headless Chromium through the DevTools protocol: every image and whether it loaded,
    the platform fonts that drew the table cells holding CJK text (with their glyph counts), and every
    exception, console or log error and failed load; a PNG screenshot of the first `height` pixels."""
    from websockets.sync.client import connect

    profile = tempfile.mkdtemp(prefix="chromium-")
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--remote-debugging-port=0", f"--window-size={width},{height}",
               "about:blank"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        port, deadline = None, time.time() + timeout
        while port is None and time.time() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port, "chromium printed no DevTools address"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as answer:
            target = next(t["webSocketDebuggerUrl"] for t in json.load(answer) if t["type"] == "page")
        events: list[dict] = []
        with connect(target, max_size=None, open_timeout=timeout) as socket:
            ids = iter(range(1, 10**6))

            def call(method: str, **params):
                ident = next(ids)
                socket.send(json.dumps({"id": ident, "method": method, "params": params}))
                while True:
                    message = json.loads(socket.recv(timeout=timeout))
                    if message.get("id") == ident:
                        if "error" in message:
                            raise RuntimeError(f"{method}: {message['error']}")
                        return message["result"]
                    events.append(message)

            for domain in ("Page", "Runtime", "Log", "Network", "DOM", "CSS"):
                call(f"{domain}.enable")
            call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            call("Page.navigate", url=page.resolve().as_uri())
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                events.append(json.loads(socket.recv(timeout=timeout)))
            images = call("Runtime.evaluate", returnByValue=True, expression=(
                "[...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"))
            root = call("DOM.getDocument", depth=-1)["root"]["nodeId"]
            fonts: dict[str, int] = {}
            for node in call("DOM.querySelectorAll", nodeId=root, selector="td")["nodeIds"]:
                if re.search(r"[\u4e00-\u9fff]", call("DOM.getOuterHTML", nodeId=node)["outerHTML"]):
                    for font in call("CSS.getPlatformFontsForNode", nodeId=node)["fonts"]:
                        fonts[font["familyName"]] = fonts.get(font["familyName"], 0) + font["glyphCount"]
            if screenshot is not None:
                screenshot.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
    finally:
        process.terminate()
        process.wait(timeout=30)
    problems = [e for e in events if e.get("method") in ("Runtime.exceptionThrown", "Network.loadingFailed")
                or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
                or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")]
    return {"images": images["result"]["value"], "fonts": fonts, "problems": problems}


def require_chromium(path: Path, in_ci: bool) -> None:
    """Skip without Chromium on a developer's machine; fail under CI=true, where it is required."""
    if not path.is_file():
        message = f"{path} not found (Debian package chromium; .ci/run installs it)"
        if in_ci:
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def chromium():
    require_chromium(CHROMIUM, IN_CI)
    return chromium_render


def test_chromium_is_skipped_without_it_and_required_under_ci(tmp_path):
    absent = tmp_path / "chromium"
    with pytest.raises(pytest.skip.Exception):
        require_chromium(absent, in_ci=False)
    with pytest.raises(pytest.fail.Exception, match="CI requires it"):
        require_chromium(absent, in_ci=True)


def test_the_page_renders_in_chromium(default, chromium):
    """Every image loads, no exception or console error, the Chinese city names are drawn in a CJK font."""
    fonts = subprocess.run(["fc-list", ":lang=zh"], check=True, capture_output=True, text=True).stdout
    assert fonts.strip(), "no CJK font (fc-list :lang=zh is empty; Debian fonts-noto-cjk)"
    data = default["data"]
    top = data.dropna(subset=["Dist"]).nlargest(5, "Dist")
    for name in top["city"]:
        assert re.search(r"[\u4e00-\u9fff]", name) and f"<td>{name}</td>" in default["html"], name
    result = chromium(default["out"] / "reports" / "replication.html", SCREENSHOT)
    assert [src for src, _ in result["images"]] == ["../figures/dig_coefficients.png",
                                                    "../figures/indices_by_region.png",
                                                    "../figures/bootstrap_indirect.png"]
    assert all(loaded for _, loaded in result["images"]), result["images"]
    assert result["problems"] == []
    cjk = {name: n for name, n in result["fonts"].items() if "CJK" in name}
    assert cjk and sum(cjk.values()) >= sum(len(n) for n in top["city"]), result["fonts"]
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_chromium_check_sees_a_broken_image_and_an_error(default, chromium, tmp_path):
    """The check itself can fail: a copy of the page with an image that does not exist and a script error."""
    broken = default["out"] / "reports" / "replication_broken.html"
    broken.write_text(default["html"].replace("../figures/indices_by_region.png", "../figures/absent.png")
                      .replace("</body>", "<script>undefined_function()</script></body>"), encoding="utf-8")
    result = chromium(broken)
    assert dict(result["images"])["../figures/absent.png"] is False
    methods = {e["method"] for e in result["problems"]}
    assert "Runtime.exceptionThrown" in methods
    assert "Network.loadingFailed" in methods
