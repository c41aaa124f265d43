"""Reports: the composite assessment score (考核得分) and the quarterly bulletin (通报).

score.py is the pure arithmetic of the score; inputs.py takes each input's rows from the other
domains' services (one named function per source, so a new source is connected in one place);
bulletin.py assembles the structured Bulletin (document.py) that the renderers write as DOCX,
XLSX and printable HTML (render_*.py).
"""
