"""dom_query.py DOMFILE count|text SELECTOR, or DOMFILE handlers|links: questions about
a DOM that tests/tools/html_dom.sh printed (Chromium's serialisation: every element
but the void ones is closed).

SELECTOR is a few compound selectors apart by spaces, each tag, #id and .class in any
mix ("table#drills tbody tr.fail", "#rto-chart polyline"), an element matching the last
with ancestors matching the others in order. count prints how many elements match;
text prints each one's text, one a line (newlines inside as \\n). handlers prints the
number of on* attributes (onclick, onerror...); links the number of src, href and
xlink:href attributes and of url(...) in style that is not a #fragment."""
import re
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def parse_compound(s):
    m = re.fullmatch(r"([\w-]*)((?:[#.][\w-]+)*)", s)
    if not m:
        sys.exit("dom_query.py: cannot read selector part %r" % s)
    parts = re.findall(r"([#.])([\w-]+)", m.group(2))
    return m.group(1) or None, [v for k, v in parts if k == "#"], [v for k, v in parts if k == "."]


def matches(compound, el):
    tag, ids, classes = compound
    return ((tag is None or el["tag"] == tag) and all(el["attrs"].get("id") == i for i in ids)
            and all(c in (el["attrs"].get("class") or "").split() for c in classes))


def selected(chain, stack):
    """Whether the element at the top of stack matches chain, its ancestors the rest in order."""
    if not matches(chain[-1], stack[-1]):
        return False
    want = len(chain) - 2
    for el in reversed(stack[:-1]):
        if want >= 0 and matches(chain[want], el):
            want -= 1
    return want < 0


class Dom(HTMLParser):
    def __init__(self, chain):
        super().__init__(convert_charrefs=True)
        self.chain, self.stack, self.found, self.handlers, self.links = chain, [], [], 0, 0

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": []}
        self.handlers += sum(1 for k, _ in attrs if k.startswith("on"))
        self.links += sum(1 for k, _ in attrs if k in ("src", "href", "xlink:href"))
        self.links += sum(len(re.findall(r"url\(\s*['\"]?(?!#)", v or "")) for k, v in attrs if k == "style")
        self.stack.append(el)
        if self.chain and selected(self.chain, self.stack):
            self.found.append(el)
        if tag in VOID:
            self.stack.pop()

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        for el in self.stack:
            el["text"].append(data)


def main():
    path, mode = sys.argv[1], sys.argv[2]
    chain = [parse_compound(p) for p in sys.argv[3].split()] if mode in ("count", "text") else None
    dom = Dom(chain)
    with open(path, encoding="utf-8") as f:
        dom.feed(f.read())
    dom.close()
    if mode == "count":
        print(len(dom.found))
    elif mode == "text":
        for el in dom.found:
            print("".join(el["text"]).replace("\n", "\\n"))
    elif mode == "handlers":
        print(dom.handlers)
    elif mode == "links":
        print(dom.links)
    else:
        sys.exit("dom_query.py: unknown question %r" % mode)


main()
