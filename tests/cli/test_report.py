"""The HTML dedup report: plain checks of the page, and a render in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import random
import re
import shutil
import subprocess
import time
import urllib.parse
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from imageprism import DedupResult, ImageFailure, ImagePrism
from imageprism.dedup.not_duplicates import FORMAT as MARKS_FORMAT
from imageprism.dedup.not_duplicates import NotDuplicates
from imageprism.report.render import render_report, write_report

HOSTILE = "<script>alert('x')&\"quoted\".png"  # no "/": it is a file name

# --- the page, parsed ---------------------------------------------------------


class _Page(HTMLParser):
    """What the tests look at in a page: groups, figures, counts, resources."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.groups: list[str] = []
        self.figures: list[dict[str, str]] = []  # attributes, plus "group"
        self.counts: dict[str, int] = {}
        self.settings: dict[str, str] = {}
        self.failures = 0
        self.img_sources: list[str] = []
        self.placeholders = 0
        self.tags: set[str] = set()
        self.marks: list[dict[str, str]] = []  # the "not a duplicate" boxes, plus "group"
        self.export: dict[str, str] = {}  # the attributes of the export link
        self.scripts: list[dict[str, str]] = []  # attributes, plus "text"
        self.csp = ""
        self._script: dict[str, str] | None = None
        self._group = ""
        self._capture: tuple[str, str] | None = None  # ("count" | "setting", key)
        self._count_key = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        classes = found.get("class", "").split()
        self.tags.add(tag)
        if tag == "section" and "group" in classes:
            self._group = found["data-group"]
            self.groups.append(self._group)
        elif tag == "figure" and "image" in classes:
            self.figures.append({**found, "group": self._group})
        elif tag == "div" and "data-count" in found:
            self._count_key = found["data-count"]
        elif tag == "dd" and self._count_key:
            self._capture = ("count", self._count_key)
        elif tag == "dd" and "data-setting" in found:
            self._capture = ("setting", found["data-setting"])
        elif tag == "tr" and "failure" in classes:
            self.failures += 1
        elif tag == "img":
            self.img_sources.append(found.get("src", ""))
        elif tag == "div" and "placeholder" in classes:
            self.placeholders += 1
        elif tag == "input" and "not-duplicate" in classes:
            self.marks.append({**found, "group": self._group})
        elif tag == "a" and found.get("id") == "export-marks":
            self.export = found
        elif tag == "script":
            self._script = {**found, "text": ""}
            self.scripts.append(self._script)
        elif tag == "meta" and found.get("http-equiv") == "Content-Security-Policy":
            self.csp = found["content"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        if tag == "dd":
            self._capture = None
            self._count_key = ""

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script["text"] += data
        if self._capture is None:
            return
        kind, key = self._capture
        if kind == "count":
            self.counts[key] = int(data)
        else:
            self.settings[key] = self.settings.get(key, "") + data


# --- images -------------------------------------------------------------------


def _scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A picture of blurred random shapes: distinct per seed, stable across runs."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(30, 160), y0 + rng.randrange(30, 120))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image.filter(ImageFilter.GaussianBlur(1.5))


def _write_corpus(folder: Path) -> list[Path]:
    """Two near-duplicate groups (3 and 2 images), one unique image, one corrupt file."""
    folder.mkdir(parents=True, exist_ok=True)
    first, second = _scene(1), _scene(2)
    files = {
        "beach.png": lambda p: first.save(p),
        "beach_q40.jpg": lambda p: first.save(p, quality=40),
        # a hostile name, shown in the page as text
        "beach <small> & 'copy'.jpg": lambda p: first.resize((240, 180)).save(p, quality=85),
        "forest.jpg": lambda p: second.save(p, quality=92),
        "forest_bright.png": lambda p: ImageEnhance.Brightness(second).enhance(1.08).save(p),
        "harbour.png": lambda p: _scene(3).save(p),
        "broken.jpg": lambda p: p.write_bytes(b"this is text, not a jpeg"),
    }
    paths = []
    for name, write in files.items():
        write(folder / name)
        paths.append(folder / name)
    return paths


def _dedup_with_scores(paths: list[Path]):
    prism = ImagePrism()
    result = prism.dedup(paths, threshold=0.9)
    pair_scores, weighted = {}, {}
    for group in result.groups:
        for member in group[1:]:
            compared = prism.compare(paths[group[0]], paths[member])
            pair_scores[(group[0], member)] = compared.scores
            weighted[(group[0], member)] = compared.weighted_score
    return prism, result, pair_scores, weighted


def _result(sources: list[str], groups: list[list[int]], errors=(), threshold=0.9, digests=()):
    labels: list[int | None] = list(range(len(sources)))
    for group in groups:
        for member in group:
            labels[member] = group[0]
    failed = {e.index for e in errors}
    for index in failed:
        labels[index] = None
    unique = sorted({label for label in labels if label is not None})
    return DedupResult(
        unique=unique,
        labels=labels,
        groups=[list(g) for g in groups],
        errors=list(errors),
        sources=sources,
        threshold=threshold,
        digests=list(digests),
    )


# --- plain checks, no browser ---------------------------------------------------


def test_hostile_file_names_and_reasons_are_escaped(tmp_path):
    good = tmp_path / "good.png"
    _scene(5).save(good)
    hostile_path = tmp_path / HOSTILE
    _scene(5).save(hostile_path, format="PNG")
    result = _result(
        [str(good), str(hostile_path), "/nowhere/<img src=x onerror=alert(1)>.jpg"],
        [[0, 1]],
        errors=[ImageFailure(2, "/nowhere/<img src=x onerror=alert(1)>.jpg", "<b>bad</b> & worse")],
    )
    page = render_report(
        result,
        {(0, 1): {"hash": 1.0, "<i>dim</i>": 0.5}},
        profile="<em>profile</em>",
        skipped=[("/x/<u>skipped</u>.gif", "reason <with> tags")],
    )
    for raw in ("<script>", "<img src=x", "<b>bad", "<i>dim", "<em>profile", "<u>skipped"):
        assert raw not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&amp;&quot;quoted&quot;.png" in page
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in page
    parsed = _Page(page)
    assert parsed.settings["profile"] == "<em>profile</em>"  # shown as text, literally
    assert "script" not in parsed.tags  # no element came out of a name
    assert len(parsed.figures) == 2 and parsed.failures == 2


def test_control_characters_and_undecodable_bytes_in_names_show_escaped(tmp_path):
    folder = tmp_path / os.fsdecode(b"f\x1b[31m\xff")
    folder.mkdir()
    names = [os.fsdecode(b"IMG_\xff\xfe.jpg"), "c.jpg\n  delete thesis.pdf", "\x1b[31mred.png"]
    sources = [str(folder / name) for name in names]
    for source in sources:
        _scene(7).save(source, format="PNG")
    broken = str(folder / "bad\u202egpj.exe")
    result = _result(
        [*sources, broken], [[0, 1, 2]], errors=[ImageFailure(3, broken, "cannot \x1b[2J read")]
    )
    page = render_report(
        result,
        {(0, 1): {"hash": 1.0}, (0, 2): {"hash": 1.0}},
        skipped=[(str(folder / "skipped\nname.gif"), "link leads outside the library: /x\ny")],
    )
    target = write_report(tmp_path / "report.html", page)  # encodes as UTF-8: no lone surrogate
    text = target.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\u202e" not in text
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert "delete thesis.pdf" in text and "\n  delete thesis.pdf" not in text
    shown = html.unescape(text)
    for escaped in (
        "IMG_\\xff\\xfe.jpg",
        "c.jpg\\n  delete thesis.pdf",
        "\\x1b[31mred.png",
        "bad\\u202egpj.exe",
        "cannot \\x1b[2J read",
        "skipped\\nname.gif",
        "library: /x\\ny",
    ):
        assert escaped in shown, escaped
    alts = [html.unescape(alt) for alt in re.findall(r'alt="([^"]*)"', text)]
    assert alts == ["IMG_\\xff\\xfe.jpg", "c.jpg\\n  delete thesis.pdf", "\\x1b[31mred.png"]
    assert len(_Page(text).figures) == 3


def test_header_shows_counts_threshold_profile_and_dimensions(tmp_path):
    paths = _write_corpus(tmp_path / "photos")
    _, result, pair_scores, weighted = _dedup_with_scores(paths)
    assert [len(g) for g in result.groups] == [3, 2] and len(result.errors) == 1

    page = _Page(
        render_report(
            result,
            pair_scores,
            weighted=weighted,
            profile="copyright",
            dimensions=["hash"],
            skipped=[(str(tmp_path / "photos" / "huge.tif"), "too large")],
        )
    )
    assert page.counts == {"images": 6, "unique": 3, "groups": 2, "unreadable": 2}
    assert page.settings == {"threshold": "0.9", "profile": "copyright", "dimensions": "hash"}
    assert page.groups == ["1", "2"]
    shown = [(f["group"], int(f["data-index"]), f["data-role"]) for f in page.figures]
    expected = [
        (str(number), index, "representative" if position == 0 else "duplicate")
        for number, group in enumerate(result.groups, start=1)
        for position, index in enumerate(group)
    ]
    assert shown == expected  # representative first, in every group
    assert page.failures == 2


def test_profile_defaults_to_none_and_missing_scores_are_marked(tmp_path):
    _scene(7).save(tmp_path / "a.png")
    _scene(7).save(tmp_path / "b.png")
    result = _result([str(tmp_path / "a.png"), str(tmp_path / "b.png")], [[0, 1]])
    text = render_report(
        result,
        {(0, 1): {"hash": 0.97, "face": None}},
        weighted={(0, 1): None},
        dimensions=["hash", "face"],
    )
    page = _Page(text)
    assert page.settings["profile"] == "none"
    assert page.settings["dimensions"] == "hash, face"
    assert '<tr data-dimension="face"><th scope="row">face</th><td class="value none">' in text
    assert "0.9700" in text
    assert text.count("not scored") == 2  # face, and the weighted score


def test_thumbnails_are_embedded_jpegs_no_larger_than_asked(tmp_path):
    _scene(8, (900, 600)).save(tmp_path / "big.png")
    _scene(8, (450, 300)).save(tmp_path / "small.jpg", quality=90)
    result = _result([str(tmp_path / "big.png"), str(tmp_path / "small.jpg")], [[0, 1]])
    page = _Page(render_report(result, {(0, 1): {"hash": 1.0}}, thumbnail_size=120))
    assert len(page.img_sources) == 2
    for src in page.img_sources:
        prefix = "data:image/jpeg;base64,"
        assert src.startswith(prefix)
        thumb = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :])))
        assert thumb.format == "JPEG" and max(thumb.size) == 120


def test_unthumbnailable_image_shows_a_placeholder(tmp_path):
    _scene(9).save(tmp_path / "fine.png")
    (tmp_path / "gone_bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    sources = [str(tmp_path / "fine.png"), str(tmp_path / "gone_bad.jpg"), "/no/such/file.png"]
    result = _result(sources, [[0, 1, 2]])
    text = render_report(result, {(0, 1): {"hash": 0.95}, (0, 2): {"hash": 0.93}})
    page = _Page(text)
    assert len(page.figures) == 3
    assert len(page.img_sources) == 1 and page.placeholders == 2
    assert "no preview: no such file" in text


def test_page_is_self_contained(tmp_path):
    paths = _write_corpus(tmp_path / "photos")
    _, result, pair_scores, weighted = _dedup_with_scores(paths)
    text = render_report(result, pair_scores, weighted=weighted, dimensions=["hash"])
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and "@import" not in text
    assert "url(" not in text
    srcs = re.findall(r'\ssrc="([^"]*)"', text)
    assert srcs and all(src.startswith("data:image/jpeg;base64,") for src in srcs)
    (script,) = _Page(text).scripts  # the marks script, inline: nothing is loaded
    assert set(script) == {"text"}


def test_no_groups_and_no_failures_still_make_a_page(tmp_path):
    result = _result(["/a.png", "/b.png"], [])
    page = _Page(render_report(result, {}))
    assert page.groups == [] and page.figures == []
    assert page.counts == {"images": 2, "unique": 2, "groups": 0, "unreadable": 0}


def test_thumbnail_size_must_be_positive():
    result = _result(["/a.png"], [])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="thumbnail_size"):
            render_report(result, {}, thumbnail_size=bad)


def test_write_report_is_atomic_and_returns_the_path(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old")
    assert write_report(str(target), "<p>caf\u00e9</p>") == target
    assert target.read_text(encoding="utf-8") == "<p>caf\u00e9</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left
    with pytest.raises(OSError):
        write_report(tmp_path / "missing" / "report.html", "x")


# --- not-duplicate marks ------------------------------------------------------------


def _digest(number: int) -> str:
    return f"{number:032x}"


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_each_copy_gets_a_not_duplicate_box_carrying_its_pair(tmp_path):
    sources = [str(tmp_path / f"{n}.png") for n in range(5)]
    digests = [_digest(n) for n in (10, 11, 12, 13, 14)]
    result = _result(sources, [[0, 2, 3], [1, 4]], digests=digests)
    page = _Page(render_report(result, {}))
    shown = [(m["group"], m["data-a"], m["data-b"]) for m in page.marks]
    assert shown == [
        ("1", digests[0], digests[2]),
        ("1", digests[0], digests[3]),
        ("2", digests[1], digests[4]),
    ]  # one per copy, none for representatives
    assert page.export["download"] == "not-duplicates.json"
    assert page.export["data-format"] == MARKS_FORMAT
    prefix = "data:application/json;charset=utf-8,"
    assert json.loads(urllib.parse.unquote(page.export["href"][len(prefix) :])) == {
        "format": MARKS_FORMAT,
        "pairs": [],
    }


def test_copies_without_two_known_distinct_digests_get_no_box(tmp_path):
    sources = [str(tmp_path / f"{n}.png") for n in range(4)]
    same, other = _digest(1), _digest(2)
    result = _result(sources, [[0, 1, 2, 3]], digests=[same, same, None, other])
    page = _Page(render_report(result, {}))
    assert [(m["data-a"], m["data-b"]) for m in page.marks] == [(same, other)]

    bare = _Page(render_report(_result(sources, [[0, 1]]), {}))  # no digests at all
    assert bare.marks == [] and bare.scripts == [] and bare.export == {}
    assert "script-src" not in bare.csp


def test_the_marks_script_is_the_only_one_the_page_allows(tmp_path):
    sources = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    page = _Page(render_report(_result(sources, [[0, 1]], digests=[_digest(1), _digest(2)]), {}))
    (script,) = page.scripts
    directives = dict(part.strip().split(" ", 1) for part in page.csp.split(";"))
    assert directives["script-src"] == f"'sha256-{_sha256(script['text'])}'"
    assert directives["default-src"] == "'none'" and "connect-src" not in directives


def test_the_page_embeds_the_packaged_css_and_script_files_as_they_are(tmp_path):
    assets = resources.files("imageprism.report") / "assets"
    css = (assets / "report.css").read_bytes()
    script = (assets / "report.js").read_bytes()
    sources = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    text = render_report(_result(sources, [[0, 1]], digests=[_digest(1), _digest(2)]), {})
    assert f"<style>{css.decode('utf-8')}</style>" in text
    assert f"<script>{script.decode('utf-8')}</script>" in text
    page = _Page(text)
    assert [s["text"].encode("utf-8") for s in page.scripts] == [script]
    hashed = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert f"script-src 'sha256-{hashed}'" in page.csp


# --- headless Chromium ------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container: the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
APT_TIMEOUT = 600


def _find_chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=120", *args],
        capture_output=True,
        text=True,
        timeout=APT_TIMEOUT,
        env=env,
        check=False,
    )


def _has_candidate(package: str) -> bool:
    policy = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    )
    match = re.search(r"Candidate:\s*(\S+)", policy.stdout)
    return match is not None and match.group(1) != "(none)"


def _install_chromium() -> str | None:
    """Install Debian's chromium with apt-get; None when done, else why it failed."""
    install = ("install", "-y", "--no-install-recommends", "chromium")
    try:
        updated = False
        if not _has_candidate("chromium"):  # no package lists yet: update first
            _apt("update")
            updated = True
        done = _apt(*install)
        if done.returncode != 0 and not updated:  # stale lists (404s): update, then retry
            _apt("update")
            done = _apt(*install)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"apt-get failed: {err}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"apt-get install chromium exited {done.returncode}: {' | '.join(tail)}"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a chromium binary, installed from Debian's packages when missing."""
    found = _find_chromium()
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("chromium is not installed, and installing it needs root (apt-get)")
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed, and there is no apt-get to install it")
    started = time.monotonic()
    failure = _install_chromium()
    found = _find_chromium()
    if found is None:
        pytest.skip(f"chromium could not be installed: {failure or 'not found after install'}")
    print(f"installed chromium in {time.monotonic() - started:.0f} s")
    return found


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_report_renders_in_headless_chromium(chromium, tmp_path):
    paths = _write_corpus(tmp_path / "photos")
    prism, result, pair_scores, weighted = _dedup_with_scores(paths)
    assert [len(g) for g in result.groups] == [3, 2] and len(result.errors) == 1
    skipped = [(str(tmp_path / "photos" / "notes.tif"), "not an image Pillow can read")]
    report = write_report(
        tmp_path / "report.html",
        render_report(
            result,
            pair_scores,
            weighted=weighted,
            dimensions=prism.dimensions,
            skipped=skipped,
        ),
    )
    url = report.resolve().as_uri()

    dumped = _run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Page(dumped.stdout)
    assert len(dom.groups) == len(result.groups) == 2
    assert len(dom.figures) == sum(len(g) for g in result.groups) == 5
    assert [int(f["data-index"]) for f in dom.figures] == [i for g in result.groups for i in g]
    assert dom.counts == {"images": 6, "unique": 3, "groups": 2, "unreadable": 2}
    assert dom.failures == 2 and dom.placeholders == 0
    assert "<small>" not in dumped.stdout  # the hostile name stayed text in the live DOM
    assert "beach <small> & 'copy'.jpg" in html.unescape(dumped.stdout)

    screenshot = tmp_path / "report.png"
    shot = _run_chromium(
        chromium,
        tmp_path / "profile-shot",
        f"--screenshot={screenshot}",
        "--window-size=1200,1600",
        "--hide-scrollbars",
        url,
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 20_000
    with Image.open(screenshot) as image:
        assert image.format == "PNG" and image.size == (1200, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=4096)
        assert colours is None or len(colours) > 50  # thumbnails drawn, not a blank page


def _with_scripts(text: str, page: _Page, allowed: str, blocked: str) -> str:
    """The page plus two scripts at the end: ``allowed`` (added to the CSP) and ``blocked``."""
    policy = page.csp.replace("script-src ", f"script-src 'sha256-{_sha256(allowed)}' ")
    assert policy != page.csp
    text = text.replace(page.csp, policy)
    return text.replace("</body>", f"<script>{allowed}</script><script>{blocked}</script></body>")


def test_marking_copies_in_chromium_exports_their_pairs_for_import(chromium, tmp_path):
    paths = _write_corpus(tmp_path / "photos")
    prism, result, pair_scores, weighted = _dedup_with_scores(paths)
    assert [len(g) for g in result.groups] == [3, 2]
    text = render_report(result, pair_scores, weighted=weighted, dimensions=prism.dimensions)
    page = _Page(text)
    assert len(page.marks) == 3
    clicks = (
        "document.querySelectorAll('section.group').forEach(function (group) {"
        " group.querySelector('input.not-duplicate').click(); });"
    )
    report = tmp_path / "report.html"
    report.write_text(_with_scripts(text, page, clicks, "document.title = 'injected';"))

    dumped = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", report.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = _Page(dumped.stdout)
    assert "<title>imageprism dedup report</title>" in dumped.stdout  # CSP blocked the other
    assert not re.search(r'<label class="mark"[^>]*hidden', dumped.stdout)  # shown by the script
    first_copies = [group[1] for group in result.groups]
    marked = [int(f["data-index"]) for f in dom.figures if "marked" in f["class"].split()]
    assert marked == first_copies
    assert dom.export["aria-disabled"] == "false"
    assert re.search(r'<span id="mark-count">2</span>', dumped.stdout)

    prefix = "data:application/json;charset=utf-8,"
    assert dom.export["href"].startswith(prefix)
    exported = json.loads(urllib.parse.unquote(dom.export["href"][len(prefix) :]))
    expected = sorted(sorted([result.digests[g[0]], result.digests[g[1]]]) for g in result.groups)
    assert exported == {"format": MARKS_FORMAT, "pairs": expected}

    marks_file = tmp_path / "not-duplicates.json"
    marks_file.write_text(json.dumps(exported))
    with NotDuplicates(tmp_path / "marks.sqlite") as marks:
        assert marks.import_json(marks_file) == 2
        assert marks.pairs_among(result.digests) == {
            (g[0], c) for g, c in zip(result.groups, first_copies, strict=True)
        }
