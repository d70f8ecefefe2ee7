#!/usr/bin/env python3
"""Import cycles between the modules of each crate, in production code (a file's
`#[cfg(test)]` tail and `tests.rs` files are skipped). An edge a -> b when a file under module a
names `crate::b` (use trees flattened, comments skipped). Prints every cycle at the given depth
(1: top-level modules such as `domain` and `store`; 2: e.g. `domain::audit`) and exits 1 if
there is one.

    python3 .ci/module_cycles.py [ROOT] [DEPTH]
"""
import os, re, sys
from collections import defaultdict
root = sys.argv[1] if len(sys.argv) > 1 else '.'
depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1
def balanced(text, i):
    lvl = 0
    for j in range(i, len(text)):
        if text[j] == '{': lvl += 1
        elif text[j] == '}':
            lvl -= 1
            if lvl == 0: return j
    return len(text) - 1
def flatten(tree, prefix):
    tree = tree.strip()
    out = []
    if tree.startswith('{'):
        inner = tree[1:-1]; lvl = 0; cur = ''
        for ch in inner:
            if ch == '{': lvl += 1
            if ch == '}': lvl -= 1
            if ch == ',' and lvl == 0: out += flatten(cur, prefix); cur = ''
            else: cur += ch
        if cur.strip(): out += flatten(cur, prefix)
        return out
    m = re.match(r'([A-Za-z_][A-Za-z_0-9]*)(\s*::\s*)?(.*)', tree, re.S)
    if not m: return [prefix] if prefix else []
    head, sep, rest = m.group(1), m.group(2), m.group(3)
    if sep: return flatten(rest, prefix + [head])
    return [prefix + [head]]
def modules_named(text, here):
    """Module paths a file names: `crate::a::b`, and `super::`/`self::` paths resolved against
    `here` (the module the file's code is in)."""
    text = '\n'.join(l for l in text.split('\n') if not l.strip().startswith('//'))
    paths = []
    for m in re.finditer(r'\b((?:super\s*::\s*)+|self\s*::\s*)', text):
        ups = m.group(1).count('super')
        base = list(here[:len(here) - ups]) if ups <= len(here) else []
        i = m.end()
        rest = re.match(r'[A-Za-z_][A-Za-z_0-9]*(\s*::\s*[A-Za-z_][A-Za-z_0-9]*)*(\s*::\s*\{)?|\{', text[i:])
        if not rest:
            continue
        r = rest.group(0)
        if r.endswith('{'):
            j = balanced(text, i + len(r) - 1)
            pre = [p.strip() for p in r[:-1].split('::') if p.strip()]
            paths += [base + p for p in flatten(text[i + len(r) - 1:j + 1], pre)]
        else:
            paths.append(base + [p.strip() for p in r.split('::')])
    for m in re.finditer(r'crate\s*::\s*', text):
        i = m.end()
        if i < len(text) and text[i] == '{':
            j = balanced(text, i); paths += flatten(text[i:j+1], [])
        else:
            mm = re.match(r'[A-Za-z_][A-Za-z_0-9]*(\s*::\s*[A-Za-z_][A-Za-z_0-9]*)*(\s*::\s*\{)?', text[i:])
            if not mm: continue
            s = mm.group(0)
            if s.endswith('{'):
                j = balanced(text, i + len(s) - 1)
                base = [p.strip() for p in s[:-1].split('::') if p.strip()]
                paths += flatten(text[i+len(s)-1:j+1], base)
            else:
                paths.append([p.strip() for p in s.split('::')])
    # keep module-ish (lowercase) segments
    res = []
    for p in paths:
        mods = []
        for seg in p:
            if seg and seg[0].islower() and seg != 'self': mods.append(seg)
            else: break
        if mods: res.append(mods)
    return res
found = False
for d, dirs, files in sorted(os.walk(root)):
    dirs[:] = [x for x in dirs if x not in ('target', '.git', 'node_modules')]
    if 'Cargo.toml' not in files or not os.path.isdir(os.path.join(d, 'src')): continue
    src = os.path.join(d, 'src'); edges = defaultdict(set)
    for dd, _, fs in os.walk(src):
        for fn in fs:
            if not fn.endswith('.rs'): continue
            f = os.path.join(dd, fn)
            rel = os.path.relpath(f, src)[:-3].split(os.sep)
            if rel[0] == 'bin' or rel[-1] == 'tests' or rel[-1] == 'main': continue
            if rel[-1] in ('mod', 'lib'): rel = rel[:-1]
            text = open(f).read()
            k = text.find('#[cfg(test)]')
            if k >= 0: text = text[:k]
            me = tuple(rel[:depth])
            if not me: continue
            # The module a file's code is in: `a/b.rs` and `a/b/mod.rs` are both `a::b`.
            for p in modules_named(text, tuple(rel)):
                t = tuple(p[:depth])
                if not t or t == me: continue
                if t[:len(me)] == me or me[:len(t)] == t: continue  # parent/child
                edges[me].add(t)
    index = {}; low = {}; stack = []; on = set(); sccs = []; n = [0]
    def strong(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: sccs.append(comp)
    for v in sorted(set(edges) | {t for s in edges.values() for t in s}):
        if v not in index: strong(v)
    for comp in sccs:
        found = True
        print(f"{os.path.relpath(d, root)}: cycle among {', '.join(sorted('::'.join(x) for x in comp))}")
        for a in sorted(comp):
            for b in sorted(edges[a]):
                if b in comp: print(f"    {'::'.join(a)} -> {'::'.join(b)}")
if not found:
    print("no import cycles between modules at depth", depth)
sys.exit(1 if found else 0)
