"""How HAProxy 2.6 reads back what Portico writes: its configuration-line
tokenizer (doc/configuration.txt 2.2-2.3), the log-format arguments of the
actions Portico uses, map files and crt-lists.

Everything works on str decoded as latin-1, so that one character is one
byte of the file.
"""

import re

# Actions whose argument at this index (0-based, counting the directive) is
# a log-format string (doc/configuration.txt 8.2.6): "%[...]" and "%x"
# aliases are expanded there, "%%" is one "%".
_LF_ARG = {
    ("http-request", "set-header"): 3, ("http-request", "add-header"): 3,
    ("http-response", "set-header"): 3, ("http-response", "add-header"): 3,
    ("http-after-response", "set-header"): 3, ("http-after-response", "add-header"): 3,
    ("http-request", "replace-path"): 3, ("http-request", "replace-pathq"): 3,
    ("http-request", "replace-uri"): 3, ("http-request", "replace-header"): 4,
    ("http-request", "replace-value"): 4, ("http-response", "replace-header"): 4,
    ("http-response", "replace-value"): 4,
    ("http-request", "set-path"): 2, ("http-request", "set-pathq"): 2,
    ("http-request", "set-uri"): 2, ("http-request", "set-query"): 2,
    ("http-request", "set-method"): 2, ("http-request", "set-var-fmt"): 2,
    ("http-response", "set-var-fmt"): 2, ("http-request", "set-log-level"): -1,
    ("log-format",): 1, ("unique-id-format",): 1, ("error-log-format",): 1,
}
# Keywords of the return/deny/redirect actions followed by a log-format
# string: "hdr NAME FMT", "lf-string FMT", "location FMT", "prefix FMT".
_LF_AFTER = {"hdr": 2, "lf-string": 1}
_REDIRECT_LF = {"location": 1, "prefix": 1}


class Word:
    __slots__ = ("text", "raw", "single", "lf")

    def __init__(self, text, raw, single):
        self.text = text      # what HAProxy's tokenizer makes of it
        self.raw = raw        # as written
        self.single = single  # one single-quoted word, nothing around it
        self.lf = False       # a log-format argument

    def __repr__(self):
        return f"Word({self.raw!r})"


def tokenize(line):
    """Splits one configuration line as HAProxy does. Returns (words,
    problems): problems name what a line written from object data must never
    have (a comment, double quotes and their environment expansion, an
    escape, a control byte, an unterminated quote)."""
    words, problems = [], []
    i, n = 0, len(line)
    cur, raw_start, single = None, 0, False
    squote = dquote = False

    def end(j):
        nonlocal cur
        if cur is not None:
            raw = line[raw_start:j]
            words.append(Word("".join(cur), raw, single and raw.startswith("'")
                              and raw.endswith("'") and raw.count("'") == 2))
            cur = None

    for ch in line:
        if ord(ch) < 0x20 and ch != "\t" or ord(ch) == 0x7f:
            problems.append(f"control byte 0x{ord(ch):02x}")
            break
    while i < n:
        c = line[i]
        if squote:
            if c == "'":
                squote = False
            else:
                cur.append(c)
            i += 1
            continue
        if c in " \t" and not dquote:
            end(i)
            i += 1
            continue
        if cur is None:
            cur, raw_start, single = [], i, c == "'"
        if c == "\\":
            problems.append("backslash escape outside single quotes")
            nxt = line[i + 1:i + 2]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", line[i + 2:i + 4]):
                cur.append(chr(int(line[i + 2:i + 4], 16)))
                i += 4
                continue
            cur.append({"r": "\r", "n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        if c == "'" and not dquote:
            squote = True
            i += 1
            continue
        if c == '"':
            problems.append("double quotes (environment variables expand there)")
            dquote = not dquote
            i += 1
            continue
        if c == "$" and dquote:
            problems.append("environment variable expansion")
        if c == "#" and not dquote:
            problems.append("'#' comment")
            if not cur:
                cur = None
            break
        cur.append(c)
        i += 1
    if squote or dquote:
        problems.append("unterminated quote")
    end(i)
    _mark_lf(words)
    return words, problems


def _mark_lf(words):
    t = [w.text for w in words]
    if not t:
        return
    idx = _LF_ARG.get(tuple(t[:2]), _LF_ARG.get(tuple(t[:1])))
    if idx is not None and 0 <= idx < len(words):
        words[idx].lf = True
    if t[0].startswith("http-"):
        for k, w in enumerate(t):
            if w in _LF_AFTER and k + _LF_AFTER[w] < len(words):
                words[k + _LF_AFTER[w]].lf = True
        if len(t) > 2 and t[1] == "redirect":
            for k, w in enumerate(t[2:4], 2):
                if w in _REDIRECT_LF and k + 1 < len(words):
                    words[k + 1].lf = True


class LogFormatExpansion(ValueError):
    pass


def readback(word):
    """The bytes HAProxy uses for <word>: its text, and for a log-format
    argument, "%%" read as "%"; a lone "%" starts an expression or an alias,
    which is not the text written (LogFormatExpansion)."""
    if not word.lf:
        return word.text
    out, s, i = [], word.text, 0
    while i < len(s):
        if s[i] == "%":
            if s[i + 1:i + 2] == "%":
                out.append("%")
                i += 2
                continue
            raise LogFormatExpansion(f"log-format argument {word.raw} has a lone '%' "
                                     f"at {i}: HAProxy expands {s[i:i + 16]!r}")
        out.append(s[i])
        i += 1
    return "".join(out)


_NUM = re.compile(r"-?\d+(ms|s|m|h|k|d)?")


def shape(words):
    """What a line does, without its values: the directive and its first
    keyword, and the word count (an injected word changes it). ACL and
    server lines take lists of addresses and keywords: their count is free;
    dynamic-cookie-key's word is the backend's name."""
    t = [w.text for w in words]
    if not t:
        return ()
    if t[0] in ("acl", "server"):
        return tuple(t[:2] if t[0] == "server" else t[:3]) + ("*",)
    if t[0] == "dynamic-cookie-key":
        return (t[0], len(t))  # its key is the backend's name, Portico's
    head = [w if not words[k].single and not _NUM.fullmatch(w) else "Q"
            for k, w in enumerate(t[:2])]
    return tuple(head) + (len(t),)


def map_line_problems(line):
    """A map or crt-list line holds printable ASCII words separated by one
    space, and no comment."""
    bad = [c for c in line if ord(c) <= 0x20 and c != " " or ord(c) >= 0x7f]
    if bad:
        return [f"byte 0x{ord(bad[0]):02x}"]
    if line.lstrip().startswith("#"):
        return ["comment"]
    if "  " in line or line != line.strip():
        return ["stray spaces"]
    return []
