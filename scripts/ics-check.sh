#!/usr/bin/env bash
# Checks shiftmesh's iCalendar export with an independent parser (Python's icalendar, installed
# here with pip into target/python when missing): a schedule with text that needs escaping (commas, semicolons,
# backslashes, line breaks, a carriage return written by another program), a role and a note,
# and a shift whose start falls in a DST gap is exported, parsed, and every event is checked:
# it parses, ends after it starts, names the site in its UID, and carries the text unchanged.
# Usage: scripts/ics-check.sh [BINARY]   (default: target/debug/shiftmesh)
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:-target/debug/shiftmesh}")"
[ -x "$binary" ] || { echo "ics-check: no binary at $binary; build it first" >&2; exit 1; }

# The parser goes into target/python (pip --target: the system's Python stays as Debian left it).
deps="$PWD/target/python"
export PYTHONPATH="$deps${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c 'import icalendar' 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    echo "ics-check: installing python3-pip" >&2
    { apt-get install -y -q python3 python3-pip || { apt-get update -q && apt-get install -y -q python3 python3-pip; }; } >/dev/null
  fi
  timeout 300 python3 -m pip install --quiet --disable-pip-version-check --target "$deps" 'icalendar>=5,<7' \
    || { echo "ics-check: cannot install Python's icalendar (pip failed)" >&2; exit 1; }
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sm() { "$binary" --data-dir "$work/data" "$@"; }
sm init --name 'Museum, Café; "North"' --time-zone Europe/Berlin >/dev/null
sm staff add sarah --name 'Sarah Lee' >/dev/null
sm shift add mon-am --date 2026-11-23 --start 09:00 --end 13:00 --label 'Tours, talks; and \more' >/dev/null
sm shift add night --date 2026-11-23 --start 22:00 --end 06:00 --label 'Night watch' >/dev/null
sm shift add gap --date 2026-03-29 --start 02:30 --end 03:00 >/dev/null
sm assign sarah mon-am --role guide --note $'bring keys\nand a torch' >/dev/null
sm assign sarah night >/dev/null
sm assign sarah gap >/dev/null
sm export --format ics --staff sarah --out "$work/sarah.ics" >/dev/null
sm export --format ics --out "$work/all.ics" >/dev/null

python3 - "$work/sarah.ics" "$work/all.ics" <<'PY'
import sys
import icalendar

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        raw = f.read()
    calendar = icalendar.Calendar.from_ical(raw)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 3, (path, len(events))
    for event in events:
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert end > start, (path, str(event["SUMMARY"]), start, end)
        assert str(event["UID"]).endswith(".shiftmesh") and "@" in str(event["UID"]), event["UID"]
    by_summary = {str(e["SUMMARY"]): e for e in events}
    assert "Tours, talks; and \\more (mon-am)" in by_summary, list(by_summary)
    am = by_summary["Tours, talks; and \\more (mon-am)"]
    description = str(am["DESCRIPTION"])
    assert "guide" in description and "bring keys\nand a torch" in description, description
    gap = by_summary["gap"]
    assert "does not exist" in str(gap["DESCRIPTION"]), str(gap["DESCRIPTION"])
print("ics-check: both exports parse with icalendar %s; 6 events checked" % icalendar.__version__)
PY
