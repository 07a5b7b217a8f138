#!/usr/bin/env python3
"""Fails on a broken internal link in a built mdBook: every relative href/src of every HTML
page must resolve to a file of the build, and every #anchor must be an id of its page.
Usage: check_links.py BOOK_HTML_DIR"""
import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)
            if v and ((k == "href" and tag in ("a", "link", "area")) or (k == "src" and tag in ("img", "script", "iframe", "source"))):
                self.links.append(v)


def main(root):
    pages = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".html"):
                p = Page()
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    p.feed(fh.read())
                pages[os.path.normpath(os.path.join(d, f))] = p
    broken, checked = [], 0
    for path, page in pages.items():
        if os.path.basename(path) == "404.html":  # mdBook's 404 page links relative to the site root
            continue
        for link in page.links:
            u = urlsplit(link)
            if u.scheme or u.netloc or link.startswith("//"):
                continue  # external
            checked += 1
            target = path if not u.path else os.path.normpath(os.path.join(os.path.dirname(path), unquote(u.path)))
            if os.path.isdir(target):
                target = os.path.join(target, "index.html")
            if not os.path.exists(target):
                broken.append(f"{os.path.relpath(path, root)}: {link} -> no such file")
            elif u.fragment and target.endswith(".html"):
                if unquote(u.fragment) not in pages[target].ids:
                    broken.append(f"{os.path.relpath(path, root)}: {link} -> no id {u.fragment!r}")
    for b in broken:
        print("broken link:", b)
    print(f"links: {checked} internal links in {len(pages)} pages checked, {len(broken)} broken")
    return 1 if broken or not pages else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
